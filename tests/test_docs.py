"""Documentation: a short README whose links resolve, numbers generated not copied, a site that builds."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _report_script():
    spec = importlib.util.spec_from_file_location("report_qm9", REPO / "scripts" / "report_qm9.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150
    block = lines[lines.index("```bash") + 1: lines.index("```")]
    assert [line.split("#")[0].strip() for line in block] == ["make demo", "make test"]


def test_readme_and_contributing_links_stay_inside_the_repository_and_resolve():
    for document in (README, REPO / "CONTRIBUTING.md", REPO / "CHANGELOG.md"):
        text = document.read_text(encoding="utf-8")
        assert "../" not in text, f"{document.name} points outside the repository"
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://")):
                continue
            assert (document.parent / target).exists(), f"{document.name} links to a missing {target}"


def test_readme_headline_table_is_the_generated_one():
    """The README's numbers are rendered from reports/qm9.json by the report script, not typed."""
    report = _report_script()
    text = README.read_text(encoding="utf-8")
    start = text.index(report.HEADLINE_START) + len(report.HEADLINE_START)
    table = text[start: text.index(report.HEADLINE_END)].strip()
    assert table == report.headline_table(report._read_cache())
    assert table.count("\n") >= 4


def test_documentation_site_builds_strictly(tmp_path: Path):
    """Every page, link and API-reference entry resolves (``mkdocs build --strict``)."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").exists()


def test_the_report_marks_rows_sampled_on_a_gpu():
    """Seconds on a GPU do not compare with a CPU's: the tables mark them, and rows before devices were recorded ran on CPU."""
    report = _report_script()
    gpu = "cuda: NVIDIA H200"
    old = {"n": 1024, "seconds": 1896.9}
    assert report._seconds(old) == "1897" and list(report._devices(old)) == ["cpu"]
    both = {"n": 1024, "seconds": 5327.1, "devices": {"cpu": {"batches": 3, "seconds": 5159.1}, gpu: {"batches": 5, "seconds": 168.0}}}
    assert report._seconds(both) == "5327 (CPU+GPU)"
    assert report._seconds({"n": 1024, "seconds": 226.0, "devices": {gpu: {"batches": 8, "seconds": 226.0}}}) == "226 (GPU)"
