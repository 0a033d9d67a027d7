"""The video stage of the pipeline: one decoding pass, every scorer, one explanation.

Text definitions (and anomaly rules applied through CLIP) are scored per sampled frame,
smoothed and cut into intervals; a retrieval memory built with this CLIP scores every
frame into its own track; a rule set cites the rule behind each interval (with a
vision-language model's caption of the peak frame, given a captioner). The detections of
all scorers are then merged into events with their evidence and keyframes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlad.answer.explanation import Detection, Explanation
from vlad.pipeline.analysis import Analysis
from vlad.pipeline.evidence import MEMORY_TRACK, video_evidence
from vlad.pipeline.keyframes import event_keyframes
from vlad.pipeline.video import VideoDetector
from vlad.types import ProgressFn

if TYPE_CHECKING:
    from vlad.pipeline.facade import Pipeline
    from vlad.pipeline.request import RuleSetLike
    from vlad.scoring.memory import MemoryIndex


def request_detector(
    pipe: Pipeline,
    definitions: tuple[str, ...],
    normal: tuple[str, ...],
    scene: str | None,
    rule_set: RuleSetLike | None,
    *,
    memory: MemoryIndex | None = None,
) -> tuple[VideoDetector, dict[str, tuple[str, str]]]:
    """The video scorer for one request, and the rule behind each rule text.

    Definitions: the anomaly rules' texts first, then the request's (or the config's);
    with none at all, the scene prompts' own, unless a memory of this CLIP scores alone.
    Normal descriptions: the normal rules' texts, the request's (or the config's, or the
    scene prompts' defaults), then the scene.

    Returns:
        The detector and definition text -> (rule id, rule text).
    """
    config = pipe.video_config
    refs: dict[str, tuple[str, str]] = {}
    rule_normal: list[str] = []
    if rule_set is not None:
        for rule in rule_set.anomaly():
            text = " ".join(str(rule.text).split())
            if text and text not in refs:
                refs[text] = (str(rule.id), text)
        rule_normal = [" ".join(str(r.text).split()) for r in rule_set.normal() if r.text]
    defs = tuple(dict.fromkeys((*refs, *(definitions or config.definitions))))
    own_normal = list(normal or config.normal)
    if scene and not own_normal and not rule_normal:
        from vlad.scoring.text_defined import TextDefinedScorer

        own_normal = list(
            TextDefinedScorer(pipe.encoder, scene_prompts=config.scene_prompts).prompts.normal
        )
    all_normal = [*rule_normal, *own_normal, *([scene] if scene else [])]
    detector = VideoDetector(
        pipe.encoder,
        replace(config, definitions=defs, normal=tuple(dict.fromkeys(all_normal))),
        memory=memory,
        memory_k=pipe.memory_k,
        learned=pipe.learned,
    )
    return detector, refs


DESCRIBING_SPAN = (0.77, 0.8)
"""The share of a video's progress the VLM spends describing frames (rule loop)."""


def describing(done: int, total: int) -> tuple[float, str]:
    """The progress fraction and stage text after ``done`` of ``total`` frames described.

    Args:
        done: Frames described so far (cached captions included).
        total: Frames the rule loop describes.

    Returns:
        A fraction in :data:`DESCRIBING_SPAN` (its end when every frame is described) and
        ``"Describing frames N/M"``.
    """
    start, stop = DESCRIBING_SPAN
    share = min(max(done / total, 0.0), 1.0) if total > 0 else 1.0
    return start + (stop - start) * share, f"Describing frames {done}/{total}"


def analyze_video(
    pipe: Pipeline,
    source: Path,
    *,
    name: str,
    detector: VideoDetector,
    refs: dict[str, tuple[str, str]],
    scene: str | None,
    rule_set: RuleSetLike | None,
    memory: MemoryIndex | None,
    captioner: Any = None,
    map_out: str | Path | None = None,
    report: ProgressFn,
    perception: Any = None,
) -> Analysis:
    """Encode a video once, run every scorer, and explain it.

    ``detector`` and ``refs`` come from :func:`request_detector` (built once per request,
    so that a bad setting stops the request instead of failing each input). ``perception``
    (a :class:`~vlad.pipeline.perception_stage.PerceptionStage`, with a rule set and a
    captioner) describes sampled frames and fuses their rule track with the CLIP tracks.

    Returns:
        The analysis (explanation plus cached frame embeddings).
    """
    from vlad.media.video import probe_video

    mode = pipe.memory_mode(memory) if memory is not None else None
    frame_memory = detector.memory
    config = detector.config
    report(0.0, "Opening the video")
    info = probe_video(source, frames_fps=config.frames_fps)
    duration = max(info.duration_s, 1e-6)
    keeper = None
    if captioner is not None and rule_set is not None:
        from vlad.reasoning.perception import FrameKeeper

        keeper = FrameKeeper(max_side=captioner.prompt.max_side)
    encoded = detector.encode(
        source,
        progress=lambda t: report(0.05 + 0.7 * min(t / duration, 1.0), "Encoding"),
        on_frame=keeper,
    )
    report(0.75, "Scoring")
    result = detector.score(encoded, name=name)
    perceived = None
    if perception is not None and captioner is not None and rule_set is not None:
        report(DESCRIBING_SPAN[0], "Describing frames")
        result, perceived = perception.run(
            result,
            encoded,
            rule_set,
            captioner=captioner,
            video=config,
            keeper=keeper,
            progress=lambda done, total: report(*describing(done, total)),
        )
    report(0.8, "Localizing")
    localized = detector.localize(encoded, result, map_out=map_out)
    citations: tuple[Any, ...] = ()
    if perceived is not None:  # the loop cited every interval, CLIP's and its own
        citations = result.citations
    elif rule_set is not None:
        from vlad.pipeline.rules import cite_rules

        citations = cite_rules(
            result, rule_set, captioner=captioner, keeper=keeper, frames_fps=config.frames_fps
        )
    detections = tuple(
        Detection(
            interval,
            neighbors=(result.evidence[k] if k < len(result.evidence) else ())
            if frame_memory is not None
            else None,
            citation=citations[k] if k < len(citations) else None,
        )
        for k, interval in enumerate(result.intervals)
    )
    memory_track = next((t for t in result.tracks if t.definition == MEMORY_TRACK), None)
    report(0.85, "Collecting evidence")
    evidence = video_evidence(
        result.intervals,
        result.fused,
        refs,
        gap_s=config.merge_gap_s,
        memory=memory,
        memory_values=memory_track.values if memory_track is not None else None,
        frame_embeddings=encoded.embeddings.float().numpy() if memory_track is not None else None,
        embedder=pipe.embedder if mode == "text" else None,
        neighbours=pipe.neighbours,
    )
    report(0.9, "Drawing heat maps")
    keyframes = event_keyframes(detector, encoded, evidence, pipe.max_keyframes)
    info = result.info
    explanation = Explanation(
        input=name,
        kind="video",
        verdict="anomalous" if evidence else "normal",
        score=result.max_score,
        threshold=config.threshold,
        low_threshold=config.hysteresis_low,
        duration_s=float(encoded.duration_s),
        definitions=result.definitions,
        scene=scene,
        fused=result.fused,
        tracks=result.tracks,
        intervals=tuple(e.interval for e in evidence),
        evidence=tuple(evidence),
        keyframes=tuple(keyframes),
        notes=tuple(
            n for n in (result.stopped_early, perceived.note() if perceived else None) if n
        ),
        detections=detections,
        segments=result.segments,
        maps=tuple(localized),
        fps=float(info.fps),
        frame_count=int(info.frame_count),
        sample_fps=result.sample_fps,
        height=info.height,
        width=info.width,
        stopped_early=result.stopped_early,
        perception=perceived.to_record() if perceived is not None else None,
    )
    report(0.95, "Writing the explanation")
    explanation = pipe.word(explanation)  # text, its source, a note on dropped sentences
    report(1.0, "Done")
    return Analysis(
        explanation=explanation,
        source=source,
        detector=detector,
        encoded=encoded,
        rule_refs=refs,
        memory=memory,
        extra={"result": result},
    )
