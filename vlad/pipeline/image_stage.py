"""The image stage of the pipeline, as one explanation.

The image score and full-size map come first (WinCLIP's prompt ensemble, or AnomalyCLIP's
learned prompts when the pipeline's method is ``anomalyclip``); the text definitions, memory
and rules are then scored on the image's global embedding.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from vlad.answer.explanation import Evidence, EvidenceItem, Explanation, KeyFrame
from vlad.config import WinClipConfig
from vlad.media.image import image_notes
from vlad.pipeline.analysis import Analysis
from vlad.pipeline.evidence import MEMORY_TRACK, definition_item, neighbour_items
from vlad.pipeline.video import VideoDetector
from vlad.types import ImageScore, Interval, ProgressFn, ScoreTrack

if TYPE_CHECKING:
    from vlad.pipeline.facade import Pipeline
    from vlad.pipeline.request import RuleSetLike
    from vlad.scoring.memory import MemoryIndex


def request_winclip(
    base: WinClipConfig,
    definitions: tuple[str, ...],
    normal: tuple[str, ...],
    scene: str | None,
    rule_set: RuleSetLike | None,
) -> WinClipConfig:
    """The WinCLIP settings of one request.

    The scene is the class name; the request's definitions and the rules join the state words.
    """
    rule_defs = tuple(" ".join(str(r.text).split()) for r in rule_set.anomaly()) if rule_set else ()
    rule_normal = (
        tuple(" ".join(str(r.text).split()) for r in rule_set.normal()) if rule_set else ()
    )
    return replace(
        base,
        class_name=scene or base.class_name,
        definitions=tuple(
            dict.fromkeys(d for d in (*base.definitions, *definitions, *rule_defs) if d)
        ),
        normal=tuple(dict.fromkeys(n for n in (*base.normal, *normal, *rule_normal) if n)),
    )


def explain_image(
    pipe: Pipeline,
    source: Path | None,
    result: ImageScore,
    image: Image.Image,
    *,
    detector: VideoDetector,
    refs: dict[str, tuple[str, str]],
    definitions: tuple[str, ...],
    scene: str | None,
    memory: MemoryIndex | None,
    report: ProgressFn,
) -> Analysis:
    """Explain a scored image: its score and map, definitions, memory, text.

    Args:
        pipe: The pipeline (CLIP, embedder, text writer).
        source: The image file, if it came from one.
        result: Its score and full-size map (WinCLIP's, or AnomalyCLIP's).
        image: The RGB image.
        detector: The request's text-definition scorer.
        refs: Definition text -> (rule id, rule text).
        definitions: The request's definitions (scored on the global embedding).
        scene: The scene, if given.
        memory: A retrieval memory, if any.
        report: Progress.

    Returns:
        The analysis.
    """
    from vlad.answer.render import heat_map_overlay

    mode = pipe.memory_mode(memory) if memory is not None else None
    scored = tuple(dict.fromkeys((*definitions, *refs)))
    embedding = None
    if scored or mode == "frames":
        embedding = pipe.image_embedding(image)
    probabilities = (
        detector.scorer.score(embedding, scored)[0]
        if scored and embedding is not None
        else np.zeros(0, dtype=float)
    )
    score = float(result.score)
    threshold = float(result.threshold)
    zero = np.zeros(1)
    index = np.zeros(1, dtype=np.int64)
    tracks = [
        ScoreTrack(zero, index, np.array([p]), text)
        for text, p in zip(scored, probabilities, strict=True)
    ]
    scorer = "AnomalyCLIP" if pipe.method == "anomalyclip" else "WinCLIP"
    items = [EvidenceItem("image", f"{scorer} image score", score)]
    items.extend(
        definition_item(text, float(p), refs)
        for text, p in sorted(zip(scored, probabilities, strict=True), key=lambda kv: -kv[1])
        if p >= threshold
    )
    memory_score = None
    if memory is not None and mode == "frames" and embedding is not None:
        memory_score = float(memory.respond(embedding.cpu().numpy(), pipe.memory_k)[0])
        tracks.append(ScoreTrack(zero, index, np.array([memory_score]), MEMORY_TRACK))
        items.extend(neighbour_items(memory, embedding[0].cpu().numpy(), pipe.neighbours))
    elif memory is not None and mode == "text" and scored and pipe.embedder is not None:
        top = scored[int(np.argmax(probabilities))]
        items.extend(neighbour_items(memory, pipe.embedder.embed([top])[0], pipe.neighbours))
    anomalous = score >= threshold
    top_definition = next((i.text for i in items if i.kind in ("definition", "rule")), None)
    evidence: tuple[Evidence, ...] = ()
    if anomalous:
        evidence = (
            Evidence(
                id="E1",
                interval=Interval(0.0, 0.0, score, top_definition),
                peak_time_s=0.0,
                items=tuple(items),
                memory_score=memory_score,
            ),
        )
    report(0.8, "Drawing the heat map")
    overlay = None
    if result.anomaly_map is not None:
        overlay = np.asarray(heat_map_overlay(image, result.anomaly_map))
    keyframe = KeyFrame(
        evidence_id="E1" if anomalous else None,
        frame_index=0,
        time_s=0.0,
        score=score,
        definition=top_definition,
        image=np.asarray(image),
        anomaly_map=result.anomaly_map,
        overlay=overlay,
    )
    height, width = result.size if result.size is not None else (image.height, image.width)
    explanation = Explanation(
        input=result.input,
        kind="image",
        verdict="anomalous" if anomalous else "normal",
        score=score,
        threshold=threshold,
        low_threshold=threshold,
        duration_s=0.0,
        definitions=scored,
        scene=scene,
        fused=ScoreTrack(zero, index, np.array([score]), None),
        tracks=tuple(tracks),
        intervals=tuple(e.interval for e in evidence),
        evidence=evidence,
        keyframes=(keyframe,),
        height=int(height),
        width=int(width),
        notes=image_notes(image),  # an animation scored on one frame, a tiny image
    )
    report(0.9, "Writing the explanation")
    explanation = pipe.word(explanation)  # text, its source, a note on dropped sentences
    report(1.0, "Done")
    return Analysis(
        explanation=explanation,
        source=source if source is not None else Path(result.input),
        detector=detector,
        image=image,
        image_embedding=embedding.cpu() if embedding is not None else None,
        rule_refs=refs,
        memory=memory,
    )
