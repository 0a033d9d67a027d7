"""vlad's results beside the papers: hand-built results.json files and their exact tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlad.errors import InputError
from vlad.runners.evaluation.anchors import load_anchors, parse_anchors
from vlad.runners.evaluation.table import (
    CAPTION_POOLING,
    build_tables,
    caption_results,
    load_results,
    render_markdown,
    tables_json,
    write_caption_results,
)

ANCHORS = parse_anchors(
    {
        "vlad_anchors": 1,
        "anchors": [
            {"paper": "A (2024)", "method": "a", "benchmark": "mvtec", "metric": m, "value": v,
             "source": "Table 1, v1", "checked": "read"}
            for m, v in (("image_auroc", 91.5), ("pixel_aupro", 81.4))
        ] + [
            {"paper": "A (2024)", "method": "a", "benchmark": "mvtec", "metric": "image_auroc",
             "value": 97.25, "category": "bottle", "source": "Table 9, v1", "checked": "read"},
            {"paper": "F (2025)", "method": "f", "benchmark": "ucf_crime", "metric": "frame_auc",
             "value": 87.3, "source": "abstract, v2", "checked": "read"},
            {"paper": "F (2025)", "method": "f", "benchmark": "visa", "metric": "image_auroc",
             "value": 50.0, "source": "x", "checked": "read"},
        ],
    },
    where="test",
)  # fmt: skip


def write_results(folder: Path, **changes: Any) -> Path:
    record: dict[str, Any] = {
        "vlad_eval": 1,
        "task": "images",
        "benchmark": "mvtec",
        "method": "winclip",
        "settings": {},
        "versions": {},
        "started": "2026-11-30T04:00:00Z",
        "finished": "2026-11-30T04:01:00Z",
        "inputs": 4,
        "scored": 4,
        "failed": 0,
        "pooling": "image figures per category, then their mean.",
        "figures": {
            "mean": {
                "image_auroc": 0.9,
                "image_ap": 0.95,
                "pixel_auroc": 0.8512,
                "pixel_aupro": 0.6,
            },
            "per_category": {
                "cable": {"image_auroc": 0.85, "image_ap": 0.9},
                "bottle": {"image_auroc": 0.95, "image_ap": 1.0},
            },
        },
    }
    record.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(record))
    return folder


VIDEO_FIGURES = {"mean": {"frame_auc": 0.8, "frame_ap": 0.25, "frame_auc_per_video_mean": 0.7}}

EXPECTED = """\
## mvtec: MVTec AD

|  | kind | image AUROC | image AP | pixel AUROC | pixel AUPRO | source |
|---|---|---:|---:|---:|---:|---|
| vlad images winclip | measured | 90.0 | 95.0 | 85.1 | 60.0 | {img} |
| A (2024) | quoted | 91.5 | – | – | 81.4 | Table 1, v1 |

### mvtec per category

| category |  | kind | image AUROC | image AP | pixel AUROC | pixel AUPRO | source |
|---|---|---|---:|---:|---:|---:|---|
| bottle | vlad images winclip | measured | 95.0 | 100.0 | – | – | {img} |
| bottle | A (2024) | quoted | 97.25 | – | – | – | Table 9, v1 |
| cable | vlad images winclip | measured | 85.0 | 90.0 | – | – | {img} |

- vlad images winclip: image figures per category, then their mean.

## ucf_crime: UCF-Crime

|  | kind | frame AUC | frame AP | frame AUC, per-video mean | source |
|---|---|---:|---:|---:|---|
| vlad videos definitions | measured | 80.0 | 25.0 | 70.0 | {vid} |
| F (2025) | quoted | 87.3 | – | – | abstract, v2 |

- vlad videos definitions: all frames of all test videos pooled.

Figures in percent. measured: computed by vlad, from the results file named; quoted: \
copied from the paper's table named (eval/anchors.yaml), not rerun here.
"""


def test_results_beside_the_anchors_render_exactly(tmp_path: Path) -> None:
    images = load_results(write_results(tmp_path / "img"))
    videos = load_results(
        write_results(
            tmp_path / "vid",
            task="videos",
            benchmark="ucf_crime",
            method="definitions",
            pooling="all frames of all test videos pooled.",
            figures=VIDEO_FIGURES,
        )
        / "results.json"
    )
    tables = build_tables([images, videos], ANCHORS)
    text = render_markdown(tables)
    assert text == EXPECTED.format(
        img=tmp_path / "img" / "results.json", vid=tmp_path / "vid" / "results.json"
    )
    data = tables_json(tables)
    assert data["unit"] == "percent"
    assert [b["benchmark"] for b in data["benchmarks"]] == ["mvtec", "ucf_crime"]
    mvtec = data["benchmarks"][0]
    assert mvtec["metrics"] == ["image_auroc", "image_ap", "pixel_auroc", "pixel_aupro"]
    assert mvtec["rows"][0] == {
        "who": "vlad images winclip",
        "method": "winclip",
        "kind": "measured",
        "category": None,
        "source": str(tmp_path / "img" / "results.json"),
        "figures": {
            "image_auroc": 90.0,
            "image_ap": 95.0,
            "pixel_auroc": 85.12,
            "pixel_aupro": 60.0,
        },
    }
    assert mvtec["rows"][1]["kind"] == "quoted"
    assert mvtec["rows"][1]["figures"] == {"image_auroc": 91.5, "pixel_aupro": 81.4}
    assert [(r["category"], r["kind"]) for r in mvtec["per_category"]] == [
        ("bottle", "measured"),
        ("bottle", "quoted"),
        ("cable", "measured"),
    ]


def test_a_benchmark_without_anchors_says_so_and_unnamed_runs_take_the_given_one(
    tmp_path: Path,
) -> None:
    run = load_results(
        write_results(tmp_path, task="captions", benchmark=None, method="keywords", pooling="",
                      figures={"mean": {"frame_auc": 1.0}})
    )  # fmt: skip
    (table,) = build_tables([run], ANCHORS)
    assert table.benchmark == "" and table.notes == [
        "No published figures for runs that name no benchmark in the anchors file."
    ]
    (table,) = build_tables([run], ANCHORS, benchmark="walkway")
    assert (table.benchmark, table.title) == ("walkway", "walkway")
    assert table.notes == ["No published figures for walkway in the anchors file."]
    assert render_markdown([table]).splitlines()[:4] == [
        "## walkway",
        "",
        "|  | kind | frame AUC | source |",
        "|---|---|---:|---|",
    ]


def test_the_shipped_anchors_sit_beside_an_mvtec_run(tmp_path: Path) -> None:
    run = load_results(write_results(tmp_path))
    (table,) = build_tables([run], load_anchors())
    assert [r.who for r in table.rows] == [
        "vlad images winclip",
        "AnomalyCLIP (Zhou et al., ICLR 2024)",
        "WinCLIP (Jeong et al., CVPR 2023)",
        "AdaCLIP (Cao et al., ECCV 2024)",
    ]
    assert table.metrics == [
        "image_auroc",
        "image_ap",
        "image_f1_max",
        "pixel_auroc",
        "pixel_aupro",
        "pixel_f1_max",
    ]
    winclip = table.rows[2]
    assert winclip.figures == {
        "image_auroc": 91.8,
        "image_ap": 96.5,
        "image_f1_max": 92.9,
        "pixel_auroc": 85.1,
        "pixel_aupro": 64.6,
        "pixel_f1_max": 31.6,
    }
    assert "AnomalyCLIP Table 1" in winclip.source and "AdaCLIP Table 1" in winclip.source


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "Results '{p}' is not JSON; give a results.json written by vlad eval."),
        ('{"task": "images"}', "Results '{p}' is not a vlad evaluation result (no \"vlad_eval\": "
         "1); give a results.json written by vlad eval."),
        ('{"vlad_eval": 1, "task": "audio"}',
         "Results '{p}' has task 'audio'; vlad eval table reads images, videos, captions."),
        ('{"vlad_eval": 1, "task": "videos", "figures": {}}',
         "Results '{p}' has no figures.mean; rerun the evaluation to write it."),
        ('{"vlad_eval": 1, "task": "videos", "figures": {"mean": {"frame_auc": 80.3}}}',
         "Results '{p}': figures.mean.frame_auc is 80.3, not a fraction in 0..1; vlad writes "
         "fractions, never percent."),
        ('{"vlad_eval": 1, "task": "images", "figures": {"mean": {}, "per_category": '
         '{"cable": {"image_ap": -1}}}}',
         "Results '{p}': figures.per_category.cable.image_ap is -1, not a fraction in 0..1; "
         "vlad writes fractions, never percent."),
    ],
)  # fmt: skip
def test_a_bad_results_file_is_named_in_one_sentence(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        load_results(path)
    assert str(caught.value) == message.format(p=path)


def test_a_missing_results_path_or_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_results(tmp_path / "nope")
    assert str(caught.value) == (
        f"Results '{tmp_path / 'nope'}' does not exist; give a results.json written by vlad eval "
        "or its folder."
    )
    with pytest.raises(InputError) as caught:
        load_results(tmp_path)
    assert str(caught.value) == (
        f"Folder '{tmp_path}' holds no results.json; give the output folder of a vlad eval "
        "images, videos or captions run."
    )


def test_caption_figures_become_a_results_record(tmp_path: Path) -> None:
    figures = {"auc": 0.92, "ap": 0.98, "method": "retrieval", "videos": 11, "skipped_videos": 1,
               "frames": 2010}  # fmt: skip
    record = caption_results(
        figures, dataset="ped2", settings={"root": Path("x")}, started="s", finished="f"
    )
    assert {k: record[k] for k in record if k != "versions"} == {
        "vlad_eval": 1,
        "task": "captions",
        "benchmark": "ped2",
        "method": "retrieval",
        "settings": {"root": "x"},
        "started": "s",
        "finished": "f",
        "inputs": 12,
        "scored": 11,
        "failed": 1,
        "frames": 2010,
        "pooling": CAPTION_POOLING,
        "figures": {"mean": {"frame_auc": 0.92, "frame_ap": 0.98}, "per_category": {}},
    }
    assert record["versions"]["vlad"]
    path = write_caption_results(
        tmp_path / "r.json", {**figures, "auc": float("nan")}, dataset="ped2", settings={},
        started="s",
    )  # fmt: skip
    run = load_results(path)
    assert (run.task, run.benchmark, run.mean) == ("captions", "ped2", {"frame_ap": 0.98})
