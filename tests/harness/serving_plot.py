"""The serving benchmark's plot (msc.serving_bench.Report.write draws it with this): latency vs offered rate per
variant, one panel per transport. matplotlib comes from the harness venv (requirements.txt); the msc package stays
standard-library only."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # files only, no display
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from msc.serving_bench import RAMP_P99_MS, Report  # noqa: E402


def plot(report: Report, path: Path) -> None:
    """p99 (solid, with the measured points) and p50 (dotted) against the offered rate, log-log; the dashed line is
    the ramps' p99 bound."""
    transports = report.settings.transports
    fig, axes = plt.subplots(1, len(transports), figsize=(13, 5.5), squeeze=False, sharey=True)
    colours = {name: plt.get_cmap("tab10")(i) for i, name in enumerate(report.settings.variants)}
    for ax, transport in zip(axes[0], transports):
        for name in report.settings.variants:
            points = report.plot_points(name, transport)
            if not points:
                continue
            rates = [p[0] for p in points]
            ax.plot(rates, [p[2] for p in points], "-o", color=colours[name], label=f"{name} p99", markersize=4)
            ax.plot(rates, [p[1] for p in points], ":", color=colours[name], label=f"{name} p50", alpha=0.8)
        ax.axhline(RAMP_P99_MS, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered rate (requests/s, 1 row each)")
        ax.set_title(transport.upper())
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("latency (ms)")
    axes[0][-1].legend(fontsize=7, ncol=2, loc="upper left")
    fig.suptitle("Serving latency vs rate (kind, 2 cores; upper bounds on a shared machine)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
