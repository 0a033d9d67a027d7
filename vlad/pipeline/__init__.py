"""The pipeline: one façade from inputs to Explanation records, and chat over an analysis."""
