"""One PNG timeline of a release under load: requests/s by version, failed requests/s and p95 latency.

Drawn by tests/bench/bench.py, second by second, from the load generator's responses
(tests/e2e/loadgen.py), with the canary's turn and every batch shaded from the release's timeline
(phases.batch_spans). matplotlib is imported by draw() only: the rest of the bench runs without it.
"""

VERSION_COLORS = ("tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
CANARY_SHADE = "tab:orange"
# Batches often run back to back: two greys tell neighbours apart.
BATCH_SHADES = ("0.55", "0.75")
# About the width of one character at the labels' 8 points, in inches.
CHAR_INCHES = 0.065


def per_second(responses, origin):
    """The responses by the whole second since `origin` they were sent in, up to the last second sent in."""
    if not responses:
        return []
    bins = [[] for _second in range(int(max(r.sent for r in responses) - origin) + 1)]
    for r in responses:
        bins[int(r.sent - origin)].append(r)
    return bins


def served_per_second(bins):
    """{version: [responses served a second]} of every version served, in the order they were first served."""
    served = {}
    for second, responses in enumerate(bins):
        for r in responses:
            if not r.failed:
                served.setdefault(r.version, [0] * len(bins))[second] += 1
    return served


def failed_per_second(bins):
    return [sum(1 for r in responses if r.failed) for responses in bins]


def p95(values):
    """The 95th percentile by nearest rank (the smallest value that 95 % of them do not exceed); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    # Integer arithmetic: 0.95 * n in floats can land just above a whole rank and skip to the next.
    return ordered[(95 * len(ordered) + 99) // 100 - 1]


def p95_ms_per_second(bins):
    """The p95 latency of every second in milliseconds, failures included (a visitor waited for those too)."""
    latencies = [p95([r.elapsed for r in responses]) for responses in bins]
    return [None if latency is None else latency * 1000 for latency in latencies]


def span_label(span):
    return "%s %s" % (span["name"], ", ".join(span["nodes"]))


def label_rows(spans, seconds, inches):
    """0 or 1 for every span: the row of its label above the plot.

    `seconds` is the x axis' length, `inches` its width. When any span is narrower than its label,
    the labels alternate rows so neighbours do not overlap.
    """
    crowded = any((span["end"] - span["start"]) / seconds * inches < len(span_label(span)) * CHAR_INCHES
                  for span in spans)
    return [index % 2 if crowded else 0 for index in range(len(spans))]


def draw(responses, batches, path, title):
    """Write the timeline PNG to `path`.

    `responses` are loadgen Responses; `batches` are phases.batch_spans, their start and end moved
    onto the responses' clock. The x axis is seconds since the first request.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    origin = min(r.sent for r in responses)
    bins = per_second(responses, origin)
    seconds = list(range(len(bins)))
    failed = failed_per_second(bins)
    latency = [float("nan") if ms is None else ms for ms in p95_ms_per_second(bins)]

    fig, (rate_ax, failed_ax, latency_ax) = plt.subplots(
        3, 1, figsize=(10, 6), dpi=100, sharex=True, height_ratios=(3, 1.5, 2), layout="constrained")
    fig.suptitle(title, fontsize=11)

    stacked = [0] * len(bins)
    for index, (version, counts) in enumerate(served_per_second(bins).items()):
        rate_ax.bar(seconds, counts, width=1.0, align="edge", bottom=stacked, linewidth=0,
                    color=VERSION_COLORS[index % len(VERSION_COLORS)], label=version or "(no version header)")
        stacked = [below + count for below, count in zip(stacked, counts)]
    # Headroom for the legend, above the bars.
    rate_ax.set_ylim(0, max([*stacked, 1]) * 1.35)
    rate_ax.set_ylabel("served/s")
    rate_ax.legend(loc="upper right", ncol=3, fontsize=8, framealpha=0.9)

    failed_ax.bar(seconds, failed, width=1.0, align="edge", color="tab:red", linewidth=0)
    failed_ax.set_ylim(0, max([*failed, 1]) * 1.3)
    failed_ax.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
    failed_ax.set_ylabel("failed/s")
    failed_ax.text(0.995, 0.92, "%d failed of %d" % (sum(failed), len(responses)), transform=failed_ax.transAxes,
                   ha="right", va="top", fontsize=8)

    latency_ax.step(seconds, latency, where="post", color="black", linewidth=1)
    latency_ax.set_ylim(bottom=0)
    latency_ax.set_ylabel("p95 ms")
    latency_ax.set_xlabel("seconds since the first request")
    latency_ax.set_xlim(0, len(bins))

    rows = label_rows(batches, len(bins), fig.get_figwidth() * 0.85)  # about the axes' width
    batch_number = 0
    for span, row in zip(batches, rows):
        if span["kind"] == "canary":
            shade = CANARY_SHADE
        else:
            shade = BATCH_SHADES[batch_number % len(BATCH_SHADES)]
            batch_number += 1
        start, end = span["start"] - origin, span["end"] - origin
        for ax in (rate_ax, failed_ax, latency_ax):
            ax.axvspan(start, end, color=shade, alpha=0.25, linewidth=0, zorder=0)
        rate_ax.text((start + end) / 2, 1.02 + 0.1 * row, span_label(span), transform=rate_ax.get_xaxis_transform(),
                     ha="center", va="bottom", fontsize=8)

    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
