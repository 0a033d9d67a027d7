"""The answer: Explanation records, grounding of model text, rendering of plots and maps."""
