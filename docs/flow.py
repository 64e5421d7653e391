"""Draw the release flow of playbooks/release.yml as docs/images/release-flow.png (matplotlib).

    python docs/flow.py [OUTPUT.png]

Every play of the playbook is drawn by name; tests/unit/test_docs_flow.py fails when a play is
added, renamed or removed and this drawing is not.
"""

import pathlib
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
PLAYBOOK = REPO / "playbooks" / "release.yml"
OUTPUT = REPO / "docs" / "images" / "release-flow.png"

# (x, y, width, height, text, plays drawn, colour). The main path runs down the left; what happens
# after a failure, on the right.
GREEN, BLUE, AMBER, RED, GREY = "#d9f2d9", "#dde8f7", "#fdebc8", "#f8d4d4", "#eeeeee"
BOXES = {
    "check": (0.3, 13.0, 6.6, 0.9, "1  Check the request: version, package and checksum, batch size;\n"
                                   "every web node and load balancer answers",
              ["Check the request and that every host answers"], GREY),
    "lock": (0.3, 11.8, 6.6, 0.9, "2  Take the release lock on the share; inspect every node\n"
                                  "(link, answer, state on each load balancer); open the history entry",
             ["Take the release lock and see where every node stands"], GREY),
    "stage": (0.3, 10.6, 6.6, 0.9, "3  Stage the package once on the share (checksum, manifest,\n"
                                   "immutable release directory)",
              ["Stage the release on the share"], GREY),
    "pre": (0.3, 9.4, 6.6, 0.9, "4  Pre (expand) migrations, once; the old release still runs on them",
            ["Run the release's pre migrations"], GREY),
    "resume": (0.3, 8.2, 6.6, 0.9, "5  Put back any node an interrupted run left drained\n"
                                   "(reload, smoke test, enable)",
               ["Put back the nodes an interrupted run left drained"], GREY),
    "canary": (0.3, 5.6, 6.6, 2.3, "6  The canary, one node:\n"
                                   "drain on every load balancer -> swap the docroot link\n"
                                   "-> graceful reload -> smoke test (directly)\n"
                                   "-> dark launch while drained: replayed real requests\n"
                                   "    and its error log against a node on the old release\n"
                                   "-> enable -> live watch against the old nodes",
               ["Release the canary and judge it under live traffic"], BLUE),
    "batches": (0.3, 3.9, 6.6, 1.4, "7  The other nodes, release_batch_size at a time:\n"
                                    "drain -> swap -> graceful reload -> smoke test -> enable",
                ["Roll the release through the other nodes"], BLUE),
    "post": (0.3, 2.7, 6.6, 0.9, "8  Post (contract) migrations, once every node serves the release",
             ["Run the release's post migrations once every node serves it"], GREY),
    "report": (0.3, 0.6, 6.6, 1.8, "9  Report: every node before/after and its step seconds,\n"
                                   "the canary's verdicts, the visitors' receipt from the load\n"
                                   "balancers' logs; close the history entry; give the lock back.\n"
                                   "Ends completed, rolled back or stopped, with what to do next",
               ["Report the release"], GREEN),
    "nothing": (7.5, 10.6, 4.4, 0.9, "Nothing has moved: stop, report (9)\n"
                                     "(fix the cause, run the same release again)", [], AMBER),
    "put_back": (7.5, 6.1, 4.4, 1.3, "A node fails (smoke test, dark launch, live\n"
                                     "watch, health checks): back to its previous\n"
                                     "release, enabled again; the release stops", [], RED),
    "return": (7.5, 4.4, 4.4, 1.1, "The nodes already switched go back,\nbatch by batch: one version everywhere",
               ["Decide whether the switched nodes go back", "Return the switched nodes to their previous release"], RED),
    "lb_down": (7.5, 2.4, 4.4, 1.2, "A load balancer fails: stop where it is,\n"
                                    "every node enabled where one answers;\nthe next run converges (report: stopped)", [], AMBER),
}
# (from, to, label); the main path first.
ARROWS = [
    ("check", "lock", ""), ("lock", "stage", ""), ("stage", "pre", ""), ("pre", "resume", ""),
    ("resume", "canary", ""), ("canary", "batches", "passes"), ("batches", "post", "all switched"),
    ("post", "report", ""),
    ("stage", "nothing", "fails"), ("canary", "put_back", "fails"), ("batches", "put_back", "fails"),
    ("put_back", "return", ""), ("return", "report", "rolled back"), ("batches", "lb_down", "LB fails"),
    ("lb_down", "report", ""),
]


INTO_REPORT = {"return": 0.8, "lb_down": 0.45}


def release_plays(path=PLAYBOOK):
    with open(path) as f:
        return [play["name"] for play in yaml.safe_load(f)]


def undrawn_plays(path=PLAYBOOK):
    """(plays of the playbook no box draws, drawn names the playbook does not have)."""
    drawn = [name for box in BOXES.values() for name in box[5]]
    plays = release_plays(path)
    return [p for p in plays if p not in drawn], [d for d in drawn if d not in plays]


def _edge(box, toward):
    x, y, w, h = box[:4]
    tx, ty = toward
    cx, cy = x + w / 2, y + h / 2
    if abs(tx - cx) > w / 2 + 0.3:  # beside: leave from the side
        return (x + w if tx > cx else x, cy)
    return (cx, y if ty < cy else y + h)


def draw(output=OUTPUT):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.patches import FancyBboxPatch

    fig, ax = pyplot.subplots(figsize=(12, 14.5), dpi=80)
    ax.set_xlim(0, 12)
    ax.set_ylim(0.3, 14.3)
    ax.axis("off")
    ax.set_title("daylight.release: playbooks/release.yml", fontsize=15, loc="left")
    for x, y, w, h, text, _plays, colour in BOXES.values():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", facecolor=colour, edgecolor="#555555"))
        ax.text(x + 0.15, y + h / 2, text, va="center", ha="left", fontsize=10)
    for start, end, label in ARROWS:
        a, b = BOXES[start], BOXES[end]
        centre_b = (b[0] + b[2] / 2, b[1] + b[3] / 2)
        centre_a = (a[0] + a[2] / 2, a[1] + a[3] / 2)
        tail, head = _edge(a, centre_b), _edge(b, centre_a)
        if end == "report" and start in INTO_REPORT:  # side by side on the report's right edge
            head = (b[0] + b[2], b[1] + b[3] * INTO_REPORT[start])
        ax.annotate("", xy=head, xytext=tail,
                    arrowprops=dict(arrowstyle="-|>", color="#333333", lw=1.2, shrinkA=2, shrinkB=2,
                                    connectionstyle="arc3,rad=0.0" if start in ("check", "lock", "stage", "pre", "resume")
                                    and end not in ("nothing",) else "arc3,rad=0.08"))
        if label:
            ax.text((tail[0] + head[0]) / 2 + 0.08, (tail[1] + head[1]) / 2 + 0.08, label, fontsize=9, style="italic",
                    color="#333333")
    fig.savefig(str(output), bbox_inches="tight")
    pyplot.close(fig)
    return output


if __name__ == "__main__":
    missing, stale = undrawn_plays()
    if missing or stale:
        sys.exit("docs/flow.py is out of date with playbooks/release.yml: not drawn %s; no such play %s" % (missing, stale))
    print(draw(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT))
