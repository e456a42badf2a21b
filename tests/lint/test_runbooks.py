"""Every ml-monitoring alert's runbook_url, with the chart's default base, resolves to a runbook in this repository
(docs/runbooks/<alertname in lower case>/README.md) that has the sections an on-call engineer expects; no runbook is
left without an alert, the index lists them all, and their relative links resolve."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from harness import CHARTS, ROOT, find_all, render

pytestmark = pytest.mark.lint

CHART = "ml-monitoring"
RUNBOOKS = ROOT / "docs" / "runbooks"
SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation")
FOLDERS = sorted(p for p in RUNBOOKS.iterdir() if p.is_dir()) if RUNBOOKS.is_dir() else []
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def default_base() -> str:
    return yaml.safe_load((CHARTS / CHART / "values.yaml").read_text())["rules"]["runbookBaseUrl"]


def base_folder(base: str) -> Path:
    """The repository folder a GitHub `.../<owner>/<repo>/tree/<ref>/<path>` URL points at."""
    parts = urlparse(base).path.strip("/").split("/")
    assert urlparse(base).netloc == "github.com" and len(parts) > 4 and parts[2] == "tree", \
        f"rules.runbookBaseUrl {base!r} is not a github.com/<owner>/<repo>/tree/<ref>/<path> URL"
    return ROOT.joinpath(*parts[4:])


@pytest.fixture(scope="module")
def alerts() -> dict[str, set[str]]:
    """Alert name -> runbook_url values, from the chart rendered with its defaults (every rule group on)."""
    urls: dict[str, set[str]] = {}
    for rule in find_all(render(CHART), "PrometheusRule"):
        for group in rule["spec"]["groups"]:
            for r in group["rules"]:
                if "alert" in r:
                    urls.setdefault(r["alert"], set()).add(r["annotations"]["runbook_url"])
    assert urls, "the default render has no alerting rules"
    return urls


def test_default_base_is_the_runbook_folder() -> None:
    assert base_folder(default_base()).resolve() == RUNBOOKS.resolve()


def test_every_alert_has_a_runbook(alerts: dict[str, set[str]]) -> None:
    base = default_base().rstrip("/")
    problems = []
    for alert, urls in sorted(alerts.items()):
        expected = f"{base}/{alert.lower()}"
        if urls != {expected}:
            problems.append(f"{alert}: runbook_url {sorted(urls)}, expected {expected}")
        readme = base_folder(base) / alert.lower() / "README.md"
        if not readme.is_file():
            problems.append(f"{alert}: {readme.relative_to(ROOT)} is missing")
        elif readme.read_text().splitlines()[0] != f"# {alert}":
            problems.append(f"{alert}: {readme.relative_to(ROOT)} must start with '# {alert}'")
    assert not problems, "\n".join(problems)


def test_no_orphaned_runbooks(alerts: dict[str, set[str]]) -> None:
    orphans = sorted({p.name for p in FOLDERS} - {a.lower() for a in alerts})
    assert not orphans, f"runbook folders without an alert in {CHART}: {orphans}"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_runbook_sections(folder: Path) -> None:
    text = (folder / "README.md").read_text()
    headings = re.findall(r"^## (.+?)\s*$", text, re.MULTILINE)
    found = [h for h in headings if h in SECTIONS]
    assert found == list(SECTIONS), f"{folder.name}: sections {headings}, need {list(SECTIONS)} in that order"
    for section in SECTIONS:
        body = re.search(rf"^## {section}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
        assert body and body.group(1).strip(), f"{folder.name}: section {section} is empty"


def test_index_lists_every_runbook() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    missing = [p.name for p in FOLDERS if f"({p.name}/README.md)" not in index]
    assert not missing, f"docs/runbooks/README.md does not link {missing}"


@pytest.mark.parametrize("doc", sorted(RUNBOOKS.rglob("*.md")) if RUNBOOKS.is_dir() else [],
                         ids=lambda p: str(p.relative_to(RUNBOOKS)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):
            continue
        if not (doc.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)}: broken links {broken}"
