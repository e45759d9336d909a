"""perf/plot on linerate-client results: both forms of file (--json, --json-lines with a
line cut short), a file from a client that wrote no latency, a flood run, and input
that is no result at all. Needs gnuplot (scripts/setup installs gnuplot-nox), no build,
no root and no DPDK.

The pictures are checked as PNG files of the size perf/plot draws (signature and IHDR),
not pixel by pixel: what gnuplot draws changes with its version and fonts."""
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import struct
import subprocess

import pytest

ROOT = pathlib.Path(os.environ.get("LINERATE_SOURCE_ROOT", pathlib.Path(__file__).resolve().parents[3]))
PLOT = ROOT / "perf" / "plot"
DATA = ROOT / "tests" / "data" / "plot"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PICTURES = ("rate", "concurrency", "latency")


def load_plot():
    """perf/plot as a module (it has no .py suffix), for what its pictures are made of."""
    loader = importlib.machinery.SourceFileLoader("perf_plot", str(PLOT))
    spec = importlib.util.spec_from_loader("perf_plot", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def run_plot(*args, env=None):
    return subprocess.run([str(PLOT), *map(str, args)], capture_output=True, text=True, timeout=120, env=env)


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    # The first chunk of every PNG is IHDR: length, type, then width and height.
    assert data[12:16] == b"IHDR", f"{path} does not start with IHDR"
    return struct.unpack(">II", data[16:24])


def check_written(result, prefix, names):
    assert result.returncode == 0, result.stderr
    expected = [pathlib.Path(f"{prefix}-{n}.png") for n in names]
    assert result.stdout.splitlines() == [str(p) for p in expected]
    plot = load_plot()
    size = (plot.WIDTH, plot.HEIGHT)
    for p in expected:
        assert png_size(p) == size


@pytest.mark.parametrize("fixture", ["run.json", "run.jsonl"])
def test_both_forms_give_the_three_pictures(tmp_path, fixture):
    r = run_plot(DATA / fixture, "--out", tmp_path / "out")
    check_written(r, tmp_path / "out", PICTURES)
    # gnuplot got its data inline: nothing else is left beside the pictures.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"out-{n}.png" for n in PICTURES)


def test_a_line_cut_short_at_the_end_is_skipped_and_said(tmp_path):
    r = run_plot(DATA / "run.jsonl", "--out", tmp_path / "out")
    assert r.returncode == 0
    lines = (DATA / "run.jsonl").read_text().splitlines()
    assert f"run.jsonl:{len(lines)}: skipped, cut short" in r.stderr


def test_the_default_prefix_is_the_file_without_its_extension(tmp_path):
    copy = tmp_path / "run.json"
    copy.write_bytes((DATA / "run.json").read_bytes())
    check_written(run_plot(copy, "--title", "it's a title"), tmp_path / "run", PICTURES)


def test_a_file_without_latency_fields_gets_no_latency_picture(tmp_path):
    # Rows as clients wrote them before the per-interval percentiles.
    src = tmp_path / "old.json"
    rows = [{"t": t + 1.0, "new_per_s": 1000.0 * (t + 1), "flood_per_s": 0.0, "open": 10 * t,
             "requests_per_s": 990.0 * (t + 1), "errors": 0} for t in range(5)]
    src.write_text(json.dumps({"connections_per_second": 3000.0, "rows": rows}))
    r = run_plot(src, "--out", tmp_path / "old")
    check_written(r, tmp_path / "old", ("rate", "concurrency"))
    assert not (tmp_path / "old-latency.png").exists()
    assert "no latency percentiles" in r.stderr and "old-latency.png" in r.stderr


def test_a_stream_killed_before_its_summary_still_plots(tmp_path):
    lines = (DATA / "run.jsonl").read_text().splitlines()
    src = tmp_path / "killed.jsonl"
    src.write_text("\n".join(lines[:4]) + "\n" + lines[4][:40])
    check_written(run_plot(src, "--out", tmp_path / "killed"), tmp_path / "killed", PICTURES)


def test_what_the_pictures_draw():
    plot = load_plot()
    connections = json.loads((DATA / "run.json").read_text())["rows"]
    assert [f for f, _ in plot.rate_series(connections)] == ["new_per_s", "missed_per_s", "requests_per_s"]
    # A flood counts segments sent and makes no requests.
    flood = [{"t": 1.0, "new_per_s": 0.0, "flood_per_s": 5e5, "requests_per_s": 0.0, "missed_per_s": 10.0,
              "connect_p50_us": 0, "connect_p99_us": 0}]
    assert [f for f, _ in plot.rate_series(flood)] == ["flood_per_s", "missed_per_s"]
    assert plot.latency_series(flood) == []
    # A series missing from every row is left out; one missing from some rows is drawn.
    old = [{"t": 1.0, "new_per_s": 10.0}, {"t": 2.0, "new_per_s": 12.0, "connect_p99_us": 80}]
    assert [f for f, _ in plot.rate_series(old)] == ["new_per_s"]
    assert [f for f, _ in plot.latency_series(old)] == ["connect_p99_us"]
    # Absent values and, on the log axis, zeros are gaps rather than points.
    assert plot.datablock(old, ["connect_p99_us"], positive=True).splitlines()[1:3] == ["1.0 NaN", "2.0 80.0"]


@pytest.mark.parametrize("content", [
    "not json at all\n",
    '{"rows": []}',
    '{"connections_per_second": 1.0}',
    '{"type": "start", "options": {}}\n{"type": "summary"}\n',
    "",
])
def test_bad_input_is_one_line_on_stderr_and_status_1(tmp_path, content):
    src = tmp_path / "bad.json"
    src.write_text(content)
    r = run_plot(src, "--out", tmp_path / "bad")
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stdout == ""
    assert [p.name for p in tmp_path.iterdir()] == ["bad.json"]


def test_a_missing_file_is_one_line_on_stderr_and_status_1(tmp_path):
    r = run_plot(tmp_path / "absent.json")
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_without_gnuplot_it_says_where_gnuplot_comes_from(tmp_path):
    r = run_plot(DATA / "run.json", "--out", tmp_path / "out", env={"PATH": str(tmp_path)})
    assert r.returncode == 1
    assert r.stderr.strip() == "perf/plot needs gnuplot (scripts/setup installs gnuplot-nox)"
    assert list(tmp_path.iterdir()) == []
