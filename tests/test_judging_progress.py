"""The judging progress bar shows done, failed, tokens and cost in every form it takes."""

import io

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from gsnr_bench.judging.progress import JudgeProgress, render


def test_render_text():
    assert render("judge (gpt)", 12, 80, 1, 34567, 0.01234) == "judge (gpt): 12/80 · failed 1 · 34,567 tok · $0.0123"


def test_rich_progress_shows_the_numbers():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=160, color_system=None)
    prog = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        auto_refresh=False,
    )
    bar = JudgeProgress(prog, "judge (gpt)", 80)
    bar.update(12, 1, 34567, 0.5)
    console.print(prog.make_tasks_table(prog.tasks))
    text = buf.getvalue()
    assert "12/80" in text and "failed 1" in text and "34,567 tok" in text and "$0.5000" in text
    assert bar.render() == "judge (gpt): 12/80 · failed 1 · 34,567 tok · $0.5000"


def test_pipeline_callable_gets_the_numbers_as_detail():
    calls = []
    bar = JudgeProgress(
        lambda task, done, total, detail="": calls.append((task, done, total, detail)), "judge (gpt)", 10
    )
    bar.update(3, 2, 1500, 0.0021)
    assert calls[-1] == ("judge (gpt)", 3, 10, "failed 2 · 1,500 tok · $0.0021")
    assert {c[0] for c in calls} == {"judge (gpt)"}  # one bar
    old = []  # an older three-argument callable still works
    JudgeProgress(lambda task, done, total: old.append((task, done, total)), "j", 5).update(5, 0, 9, 0.0)
    assert old[-1] == ("j", 5, 5)


def test_pipeline_bar_renders_the_detail(monkeypatch):
    import gsnr_bench.core.progress as P

    buf = io.StringIO()
    monkeypatch.setattr(P, "console", Console(file=buf, force_terminal=True, width=200, color_system=None))
    monkeypatch.setenv("GSNR_BENCH_PROGRESS", "1")
    with P.progress_bar("judge gsnr@0.1") as update:
        bar = JudgeProgress(update, "judge (gpt)", 4)
        bar.update(4, 1, 2048, 0.25)
    text = buf.getvalue()
    assert "failed 1" in text and "2,048 tok" in text and "$0.2500" in text
