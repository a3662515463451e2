"""Generate the example notebooks of jaxnas (run: ``python notebooks/make_notebooks.py``).

The notebooks are written from the cell sources below, outputs stripped, so they stay
reviewable in diffs and can be regenerated after an API change. Every notebook starts with a
``parameters`` cell (tagged ``parameters``, papermill style) whose small defaults let it run
top to bottom in CI (tests/test_notebooks.py); the comments there say what to raise for a
real run. Figures are written as PNG files under ``figures/`` (relative to the working
directory) and shown inline with ``IPython.display.Image``, so they appear whatever
matplotlib backend the kernel has (CI runs with ``MPLBACKEND=Agg``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# shared by every notebook: the figure helper (display a saved PNG inline)
SETUP = '''\
from pathlib import Path

from IPython.display import Image, display

from jaxnas.cpu_tuning import tune_cpu

tune_cpu()  # XLA:CPU's faster settings, before JAX starts (speed only; no-op on GPU/TPU)

FIGURES = Path("figures")
FIGURES.mkdir(exist_ok=True)


def show(path):
    """Display a saved figure inline (independent of the matplotlib backend)."""
    display(Image(filename=str(path)))


def save(fig, name):
    """Save a matplotlib figure under figures/, close it and show it inline."""
    import matplotlib.pyplot as plt

    path = FIGURES / name
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    show(path)'''


def _notebook(stem: str, cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell.id = f"{stem[:2]}-{i:02d}"  # stable ids: regenerating gives identical files
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _params(source: str) -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


# ----------------------------------------------------------------------------- (a)

QUICKSTART = [
    new_markdown_cell("""\
# Quickstart: AG-Net vs regularized evolution vs random search on NAS-Bench-201

This notebook runs three search strategies on the NAS-Bench-201 CIFAR-10 table through the
Python API behind `jaxnas search` (`jaxnas.search.runner`), for a few seeds each, and compares
their best-so-far curves with seed bands (`jaxnas.search.plots`).

* Strategies search on the 12-epoch validation accuracy; the curves show the 200-epoch **test**
  accuracy of the incumbent, which the strategies never see.
* One query = one distinct cell looked up in the table.
* The same run from the command line:
  `jaxnas search --space nb201 --dataset cifar10 --strategy re --queries 100 --seeds 5 --plot re.png`

AG-Net starts from the pretrained generator shipped in `jaxnas/generators/weights/`; if this
installation has no weights, the notebook says so and compares RE with random search only."""),
    _params('''\
# parameters: small budgets so the notebook runs in CI in about a minute on 2 CPU cores.
# For a real comparison (the AG-Net paper's setting) use QUERIES = 192 and SEEDS = 10 or more.
DATASET = "cifar10"  # cifar10, cifar100 or ImageNet16-120
QUERIES = 64  # queries (distinct cells) per seed; AG-Net asks 16 random cells, then 16 per round
SEEDS = 2  # seeds per strategy (bands are mean +- std over seeds)
STRATEGIES = ("agnet", "re", "random")
AGNET_OPTIONS = {"epochs": "10"}  # AG-Net retraining epochs per round (paper: 30); drop for a real run'''),
    new_code_cell(SETUP),
    new_code_cell('''\
import tempfile
import time

from jaxnas.benchmarks import get_oracle
from jaxnas.errors import DataNotFoundError
from jaxnas.search.plots import plot_compare
from jaxnas.search.runner import RunConfig, format_summary, run_search

RUNS = Path(tempfile.mkdtemp(prefix="jaxnas-quickstart-"))
strategies = list(STRATEGIES)
if "agnet" in strategies:
    from jaxnas.generators.pretrain import load_weights

    try:
        load_weights("nb201")
    except DataNotFoundError as error:
        print("AG-Net skipped: no pretrained NB201 generator in this installation:", error)
        strategies.remove("agnet")
print("strategies:", strategies)'''),
    new_markdown_cell("""\
## Run every strategy

`RunConfig` is what `jaxnas search` builds from its flags; `run_search` writes a run directory
(config, every evaluation as it finishes, checkpoints, `results.json`) and returns the results
dict. `--resume RUN_DIR` on the command line continues such a directory exactly."""),
    new_code_cell('''\
results = {}
for name in strategies:
    options = tuple(sorted(AGNET_OPTIONS.items())) if name == "agnet" else ()
    config = RunConfig(space="nb201", dataset=DATASET, strategy=name, queries=QUERIES,
                       seeds=tuple(range(SEEDS)), options=options)
    start = time.perf_counter()
    results[name] = run_search(config, RUNS / name)
    print(f"{name}: {time.perf_counter() - start:.1f} s")
    print(format_summary(results[name]["summary"], f"{name}: 200-epoch test accuracy of the incumbent"))'''),
    new_markdown_cell("## Best-so-far curves with seed bands"),
    new_code_cell('''\
optimum = get_oracle("nb201", DATASET).optimum("test_acc_200")
path = plot_compare([results[n] for n in strategies], FIGURES / "quickstart_compare.png",
                    band="std", optimum=optimum, labels=strategies,
                    title=f"NB201 {DATASET}: mean +- std over {SEEDS} seeds")
show(path)'''),
    new_markdown_cell("""\
With the CI budgets (a few seeds, 64 queries) the differences between strategies are within
seed noise; the curves show the incumbent chosen by the 12-epoch search metric, so its
200-epoch test accuracy can even drop when a better-looking cell is found. Raise `QUERIES` and
`SEEDS` in the parameters cell for a meaningful comparison."""),
    new_markdown_cell("## The best cell each strategy found"),
    new_code_cell('''\
oracle = get_oracle("nb201", DATASET)
for name in strategies:
    for run in results[name]["runs"]:
        best = run["best"]
        print(f"{name:7s} seed {run['seed']}: {best['arch']}  test acc "
              f"{best['report']['test_accuracy']:.2f}%  (percentile "
              f"{oracle.percentile(best['arch']):.2f})")'''),
]


# ----------------------------------------------------------------------------- (b)

POPULATION = [
    new_markdown_cell("""\
# Population training of EG-NAS candidates on Fashion-MNIST

`jaxnas.train.train_population` trains a whole population of genomes, each with its own
`TrainRecipe`, in one call and returns one `MemberResult` per genome (validation accuracy per
epoch, parameters, FLOPs, wall time). How the members are grouped into compiled programs is the
*executor*:

* `"vmap"`: all EG-NAS members share one masked supernet and one vectorised program (GPU/TPU);
* `"bucketed"`: members with identical structure are stacked and `vmap`-ed;
* `"loop"`: one jitted program per architecture, one member after another;
* `"auto"`: `"loop"` on CPU (XLA:CPU runs batched per-member convolutions slowly), `"vmap"` on
  accelerators.

A member's result depends only on its genome, budget and key, so it is the same under every
executor (up to float round-off). Here: a few small random EG-NAS genomes (chains of separable
or standard convolutions), a small Fashion-MNIST subset and one short epoch.

Data: `load_dataset("fashion_mnist", "train")` reads `$JAXNAS_DATA_DIR` (default
`~/.jaxnas/data`); see docs/data.md for how to get the files."""),
    _params('''\
# parameters: tiny so the notebook runs in CI in about a minute on 2 CPU cores.
# For a real run: MEMBERS = 16+, TRAIN_SIZE = 54000 (all), VAL_SIZE = 6000, EPOCHS = 5+,
# depth 10-30, width 16-64 (the EG-NAS space) and EXECUTOR = "vmap" on a GPU.
MEMBERS = 3  # population size
TRAIN_SIZE = 3000  # training images (a seeded subset)
VAL_SIZE = 500  # validation images (held out from the training split)
EPOCHS = 1
BATCH_SIZE = 64
DEPTH = (2, 3)  # min / max layers of the sampled chains
WIDTH = (8, 16)  # min / max channels
EXECUTOR = "auto"  # auto, loop, bucketed, vmap
SEED = 0'''),
    new_code_cell(SETUP),
    new_code_cell('''\
import time

import jax
import numpy as np

from jaxnas.data import load_dataset, subset, train_val_split
from jaxnas.spaces import get_space
from jaxnas.train import TrainRecipe, train_population

space = get_space("egnas", min_depth=DEPTH[0], max_depth=DEPTH[1], min_width=WIDTH[0],
                  max_width=WIDTH[1], width_step=4)
rng = np.random.default_rng(SEED)
genomes = []
while len(genomes) < MEMBERS:  # distinct genomes
    g = space.sample(rng)
    if space.key(g) not in {space.key(h) for h in genomes}:
        genomes.append(g)
for g in genomes:
    print(space.to_string(g), " depth", g.depth, " width", g.width, " ops", g.ops,
          " kernels", g.kernels)'''),
    new_code_cell('''\
full = load_dataset("fashion_mnist", "train")  # $JAXNAS_DATA_DIR
small = subset(full, TRAIN_SIZE + VAL_SIZE, seed=SEED)
train, val = train_val_split(small, VAL_SIZE / (TRAIN_SIZE + VAL_SIZE), seed=SEED)
print(f"train {len(train)} images, val {len(val)} images, shape {train.images.shape[1:]}, "
      f"{train.info.num_classes} classes")'''),
    new_markdown_cell("""\
## Train the population

One `TrainRecipe` for every member here (EG-NAS gives each candidate its own, see
`jaxnas.train.egnas_policy`). No cutout and no 32-px crop, to keep the tiny run fast."""),
    new_code_cell('''\
recipe = TrainRecipe(epochs=EPOCHS, batch_size=BATCH_SIZE, cutout_size=0, crop_size=None)
start = time.perf_counter()
members = train_population("egnas", genomes, recipe, train, val,
                           key=jax.random.PRNGKey(SEED), executor=EXECUTOR)
total = time.perf_counter() - start
print(f"trained {len(members)} members in {total:.1f} s (executor {members[0].executor!r}; "
      f"includes compilation)")
for g, m in zip(genomes, members):
    print(f"{space.to_string(g):28s} {m.status:8s} val acc {m.final_val_acc:6.2f}%  "
          f"params {m.params:7d}  FLOPs {m.flops:9d}  {m.wall_time:5.1f} s")'''),
    new_markdown_cell("## Validation accuracy against model size"),
    new_code_cell('''\
import matplotlib.pyplot as plt

names = [space.to_string(g) for g in genomes]
params = np.array([m.params for m in members])
acc = np.array([m.final_val_acc for m in members])
fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
for depth in sorted({g.depth for g in genomes}):
    mask = np.array([g.depth == depth for g in genomes])
    ax.scatter(params[mask], acc[mask], s=60, label=f"depth {depth}")
for name, x, y in zip(names, params, acc):
    ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
ax.set_xscale("log")
ax.set_xlabel("trainable parameters")
ax.set_ylabel(f"validation accuracy after {EPOCHS} epoch(s) (%)")
ax.set_title(f"{len(members)} EG-NAS members, Fashion-MNIST subset")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
bx.barh(range(len(members)), [m.wall_time for m in members])
bx.set_yticks(range(len(members)), names, fontsize=7)
bx.set_xlabel("wall time per member (s, incl. compilation)")
bx.set_title(f"executor: {members[0].executor}")
save(fig, "population_acc_vs_params.png")'''),
]


# ----------------------------------------------------------------------------- (c)

NAL = [
    new_markdown_cell("""\
# NAL: learn from NAS-Bench-101 experts, generate NB201 cells and a DARTS genotype

NAL (Liang & Sun 2022) learns *what good cells look like* with a GAT link/op predictor
(`jaxnas.graph`) trained on "expert" cells (the top fraction of nb101-20k by 108-epoch
validation accuracy) and then **generates** cells without any search-and-evaluate loop.

1. learn from nb101-20k experts (`jaxnas.search.nal.train_nb101_experts`);
2. transfer to NAS-Bench-201: draw cells from the model's scores of every NB201 cell and look up
   their 200-epoch test accuracy and percentile in the NB201 table (no cell is evaluated while
   generating; the table is only used to report);
3. transfer to DARTS: a normal and a reduction cell decoded from the same model.

Design decisions that the paper leaves open are documented in docs/ (NAL section)."""),
    _params('''\
# parameters: small so the notebook runs in CI in about a minute on 2 CPU cores.
# For a real run: STEPS = 2000 (or more), K = 10, NUM_SEEDS = 10.
STEPS = 100  # training steps of the GAT (NALConfig default 200)
TOP_FRACTION = 0.1  # expert set: top 10% of nb101-20k by 108-epoch validation accuracy
K = 5  # NB201 cells generated per seed
NUM_SEEDS = 3  # generation seeds (same model)
DATASET = "cifar10"  # NB201 dataset used to report the generated cells
SEED = 0'''),
    new_code_cell(SETUP),
    new_code_cell('''\
import time

import jax
import numpy as np

from jaxnas.benchmarks import get_oracle
from jaxnas.graph import NALConfig, generate_darts, generate_nb201_transfer, nb201_transfer_scores
from jaxnas.search.nal import train_nb101_experts
from jaxnas.spaces import get_space

start = time.perf_counter()
model = train_nb101_experts(jax.random.PRNGKey(SEED), NALConfig(steps=STEPS, top_fraction=TOP_FRACTION))
print(f"trained on nb101-20k experts in {time.perf_counter() - start:.1f} s; loss "
      f"{model.losses[0]:.3f} -> {model.losses[-1]:.3f}")'''),
    new_markdown_cell("## Generate NB201 cells and look them up"),
    new_code_cell('''\
oracle = get_oracle("nb201", DATASET)
nb201 = get_space("nb201")
scores = nb201_transfer_scores(model)  # the model's score of every NB201 cell (computed once)
rows = []
for seed in range(NUM_SEEDS):
    for index in generate_nb201_transfer(model, K, seed, scores=scores):
        acc = oracle.value(index, "test_acc_200")
        rows.append({"seed": seed, "index": index, "cell": nb201.to_string(oracle.genome(index)),
                     "test_acc": acc, "percentile": oracle.percentile(index)})
for r in rows:
    print(f"seed {r['seed']}  {r['cell']}  test acc {r['test_acc']:.2f}%  "
          f"percentile {r['percentile']:.1f}")
# baseline: the same number of uniformly random NB201 cells
rng = np.random.default_rng(SEED)
random_idx = rng.choice(len(oracle), size=len(rows), replace=False)
random_pct = np.array([oracle.percentile(int(i)) for i in random_idx])
nal_pct = np.array([r["percentile"] for r in rows])
print(f"NAL: mean percentile {nal_pct.mean():.1f} (median {np.median(nal_pct):.1f}); "
      f"random cells: mean {random_pct.mean():.1f} (median {np.median(random_pct):.1f})")'''),
    new_code_cell('''\
import matplotlib.pyplot as plt

all_acc = np.asarray(oracle.column("test_acc_200"), dtype=float)
fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
ax.hist(all_acc[all_acc > 10], bins=80, color="0.75", label="all NB201 cells")
for i, r in enumerate(rows):
    ax.axvline(r["test_acc"], color="C3", alpha=0.7, linewidth=1,
               label="NAL-generated" if i == 0 else None)
ax.axvline(oracle.optimum("test_acc_200"), color="k", linestyle=":", label="optimum")
ax.set_xlabel(f"200-epoch test accuracy on {oracle.dataset} (%)")
ax.set_ylabel("cells")
ax.set_title("generated cells in the NB201 accuracy distribution")
ax.legend(fontsize=8)
bx.boxplot([nal_pct, random_pct], showmeans=True)
bx.set_xticks([1, 2], [f"NAL transfer\\n({len(nal_pct)} cells)", f"random\\n({len(random_pct)} cells)"])
bx.set_ylabel("percentile in NB201 (100 = best cell)")
bx.set_title("percentile of the generated cells")
bx.grid(alpha=0.3, axis="y")
save(fig, "nal_nb201_percentiles.png")'''),
    new_markdown_cell("## A DARTS genotype from the same knowledge"),
    new_code_cell('''\
genotype = generate_darts(model, seed=SEED)
print(get_space("darts").to_string(genotype))
for name, cell in (("normal", genotype.normal), ("reduce", genotype.reduce)):
    print(f"{name} cell:")
    for node in range(len(cell) // 2):
        (op_a, in_a), (op_b, in_b) = cell[2 * node: 2 * node + 2]
        print(f"  node {node + 2}: {op_a}(node {in_a}) + {op_b}(node {in_b})")'''),
    new_code_cell('''\
def draw_cell(ax, cell, title):
    """A DARTS cell drawn left to right: inputs c_{k-2}, c_{k-1}, intermediate nodes 2.., and
    the output c_k (the concatenation of every intermediate node). Each edge is an arc labelled
    with its operation; a node's two inputs are drawn above and below the line."""
    steps = len(cell) // 2
    names = ["c_{k-2}", "c_{k-1}"] + [str(k + 2) for k in range(steps)] + ["c_k"]
    x = {i: float(i) for i in range(len(names))}
    out = len(names) - 1
    for node in range(steps):
        for side, (op, src) in zip((1, -1), cell[2 * node: 2 * node + 2]):
            dst = node + 2
            dist = x[dst] - x[src]
            ax.annotate("", (x[dst], 0), (x[src], 0),
                        arrowprops={"arrowstyle": "-|>", "color": "C0" if "conv" in op else "C1",
                                    "connectionstyle": f"arc3,rad={-0.5 * side}",
                                    "shrinkA": 10, "shrinkB": 10})
            ax.text((x[src] + x[dst]) / 2, side * 0.25 * dist, op, fontsize=7, ha="center",
                    va="bottom" if side > 0 else "top", color="C0" if "conv" in op else "C1")
    for k in range(steps):  # concat into the output: straight light lines under the axis
        ax.plot([x[k + 2], x[out]], [-0.08, -0.08 - 0.02 * k], color="0.85", zorder=1)
    for i, name in enumerate(names):
        io = i < 2 or i == out
        ax.scatter([x[i]], [0], s=600, color="lightyellow" if io else "lightblue",
                   edgecolors="k", zorder=3)
        ax.text(x[i], 0, name, ha="center", va="center", fontsize=7, zorder=4)
    ax.set_xlim(-0.6, out + 0.6)
    ax.set_ylim(-0.3 * out, 0.3 * out)
    ax.set_title(title)
    ax.axis("off")


fig, axes = plt.subplots(2, 1, figsize=(8, 7))
draw_cell(axes[0], genotype.normal, "NAL DARTS normal cell (blue: conv, orange: pool / skip)")
draw_cell(axes[1], genotype.reduce, "NAL DARTS reduction cell")
save(fig, "nal_darts_cells.png")'''),
]


# ----------------------------------------------------------------------------- (d)

HARDWARE = [
    new_markdown_cell("""\
# Hardware-aware search on NAS-Bench-201: accuracy-latency Pareto front

AG-Net's hardware-aware variant (docs/algorithms.md) conditions its surrogate on a latency device
and ranks candidates by `rank_acc + rank_latency` (the "joint" mode, chosen by
`objective="latency"`). The search sees the 12-epoch validation accuracy and the measured
latency of every queried cell (HW-NAS-Bench / HELP tables, 27 device settings); the plot shows
each cell's 200-epoch test accuracy against its latency, the Pareto front of the cells the
search queried and the true front of all 15,625 cells.

If this installation has no pretrained AG-Net weights, the notebook falls back to
**regularized evolution under a latency limit** (clearly labelled in the output and the plot),
with the same Pareto plot.

Command line: `jaxnas search --space nb201 --strategy agnet --objective latency --device pixel3
--queries 100 --seeds 3`, then `jaxnas plot --kind pareto`."""),
    _params('''\
# parameters: small so the notebook runs in CI in about a minute on 2 CPU cores.
# For a real run (the AG-Net paper): QUERIES = 200 or more, SEEDS = 5+, AGNET_OPTIONS = {}.
DEVICE = "pixel3"  # any of the 27 NB201 latency settings, e.g. fpga, 1080ti_1, raspi4
DATASET = "cifar10"
QUERIES = 64
SEEDS = 1
AGNET_OPTIONS = {"epochs": "10"}  # retraining epochs per round (paper: 30)
STRATEGY = "agnet"  # "re" to force the regularized-evolution variant'''),
    new_code_cell(SETUP),
    new_code_cell('''\
import tempfile
import time

import numpy as np

from jaxnas.benchmarks import get_oracle
from jaxnas.errors import DataNotFoundError
from jaxnas.search.pareto import hypervolume, pareto_front
from jaxnas.search.plots import plot_pareto
from jaxnas.search.runner import RunConfig, run_search

oracle = get_oracle("nb201", DATASET, DEVICE)
latency = np.asarray(oracle.column("latency"), dtype=float)
accuracy = np.asarray(oracle.column("test_acc_200"), dtype=float)

strategy = STRATEGY
if strategy == "agnet":
    from jaxnas.generators.pretrain import load_weights

    try:
        load_weights("nb201")
    except DataNotFoundError as error:
        print("FALLBACK: no pretrained AG-Net NB201 weights in this installation, so this "
              "notebook runs regularized evolution (RE) with a latency limit instead of "
              "hardware-aware AG-Net.", error)
        strategy = "re"

if strategy == "agnet":
    # joint mode: maximise accuracy and minimise latency together (Eq. 4)
    config = RunConfig(space="nb201", dataset=DATASET, strategy="agnet", queries=QUERIES,
                       seeds=tuple(range(SEEDS)), objective="latency", device=DEVICE,
                       options=tuple(sorted(AGNET_OPTIONS.items())))
    label = f"AG-Net (hardware-aware, joint, {DEVICE})"
else:
    # RE maximises accuracy among cells faster than the median latency of the table
    limit = float(np.median(latency))
    config = RunConfig(space="nb201", dataset=DATASET, strategy="re", queries=QUERIES,
                       seeds=tuple(range(SEEDS)), device=DEVICE, max_latency=limit)
    label = f"FALLBACK: RE, latency <= {limit:.2f} ms on {DEVICE}"
print(label)'''),
    new_code_cell('''\
run_dir = Path(tempfile.mkdtemp(prefix="jaxnas-hw-")) / "run"
start = time.perf_counter()
results = run_search(config, run_dir)
results["run_dir"] = str(run_dir)  # the Pareto plot reads every logged evaluation from here
print(f"{label}: {QUERIES} queries x {SEEDS} seed(s) in {time.perf_counter() - start:.1f} s")'''),
    new_markdown_cell("## Pareto front of the queried cells against the true front"),
    new_code_cell('''\
path = plot_pareto([results], FIGURES / "hw_pareto.png", labels=[label],
                   title=f"NB201 {DATASET} / {DEVICE}: {label}")
show(path)'''),
    new_markdown_cell("""\
## How close is the found front?

Hypervolume (accuracy x latency area dominated by a front, reference point: the worst
accuracy and the largest latency of the table) of the queried cells' front, as a fraction of
the hypervolume of the true front."""),
    new_code_cell('''\
from jaxnas.search.plots import evaluated_records

idx = sorted({oracle.index(r["genome"]) for r in evaluated_records(results)})
ref_acc, ref_lat = float(accuracy.min()), float(latency.max())
hv_found = hypervolume(accuracy[idx], latency[idx], ref_acc, ref_lat)
hv_true = hypervolume(accuracy, latency, ref_acc, ref_lat)
front = pareto_front(accuracy[idx], latency[idx])
true_front = pareto_front(accuracy, latency)
print(f"{len(idx)} cells queried; their front has {len(front)} cells "
      f"(true front: {len(true_front)} cells)")
print(f"hypervolume ratio found / true: {hv_found / hv_true:.4f}")
for i in front:
    cell = idx[i]
    print(f"  {latency[cell]:7.3f} ms  {accuracy[cell]:6.2f}%  "
          f"{oracle.genome(cell).ops}")'''),
]


# ----------------------------------------------------------------------------- (e)

TRAINED_AGNET = [
    new_markdown_cell("""\
# AG-Net proposals scored by training: a population per round on Fashion-MNIST

The centre of jaxnas: a strategy proposes cells and the **population trainer** scores them.
Here AG-Net searches NAS-Bench-201 cells, and every batch it asks (its random start, then 16
proposals per round of its latent generator and surrogate) is trained as **one**
`train_population` call by the `train` evaluator on Fashion-MNIST: a seeded train/validation
split, validation accuracy as the only value AG-Net sees, test accuracy kept for the report.
Each finished member is logged at once, so a killed run resumes without retraining it.

Command line: `jaxnas search --space nb201 --dataset fashion_mnist --strategy agnet
--evaluator train --train-preset smoke --queries 32 --data-dir DIR`."""),
    _params('''\
# parameters: small so the notebook runs in CI in a few minutes on 2 CPU cores.
# For a real run: QUERIES = 48+, NUM_INIT = K = 16 (AG-Net's), TRAIN_PRESET = "cpu" (or
# "paper" on an accelerator) and drop the image/epoch overrides in EVALUATOR_OPTIONS.
QUERIES = 6
NUM_INIT = 3  # random cells before the generator proposes
K = 3  # proposals trained per round
TRAIN_PRESET = "smoke"
EVALUATOR_OPTIONS = {"train_images": "256", "val_images": "128", "test_images": "128",
                     "epochs": "1"}
SEED = 0'''),
    new_code_cell(SETUP),
    new_code_cell('''\
import tempfile
import time

from jaxnas.search.runner import RunConfig, run_search

config = RunConfig(
    space="nb201", dataset="fashion_mnist", strategy="agnet", queries=QUERIES, seeds=(SEED,),
    options=(("epochs", "10"), ("k", str(K)), ("num_init", str(NUM_INIT))),
    evaluator="train",
    evaluator_options=tuple(sorted({"preset": TRAIN_PRESET, **EVALUATOR_OPTIONS}.items())))
run_dir = Path(tempfile.mkdtemp()) / "agnet-trained"
start = time.perf_counter()
results = run_search(config, run_dir)
print(f"{QUERIES} cells trained in {time.perf_counter() - start:.0f} s; run directory {run_dir}")'''),
    new_markdown_cell("""\
Every trained cell: its validation accuracy (what AG-Net saw) against its parameter count,
the random start apart from the generator's proposals, and the compile and training seconds
of each member."""),
    new_code_cell('''\
import matplotlib.pyplot as plt

from jaxnas.search.store import read_evals

entries = [e for e in read_evals(run_dir / f"seed_{SEED}" / "evals.jsonl")
           if e["record"]["cost"] > 0]
fig, ax = plt.subplots(figsize=(6, 4))
for label, rows in (("random start", entries[:NUM_INIT]), ("AG-Net proposals", entries[NUM_INIT:])):
    ax.scatter([r["record"]["info"]["params"] / 1e3 for r in rows],
               [r["record"]["metrics"]["accuracy"] for r in rows], label=label)
ax.set_xlabel("parameters (thousands)")
ax.set_ylabel("validation accuracy (%)")
ax.set_title("trained NB201 cells on Fashion-MNIST")
ax.legend()
save(fig, "agnet_trained_params.png")
for r in entries:
    rec = r["record"]
    print(f"{rec['metrics']['accuracy']:6.2f}% val  {rec['report'].get('test_accuracy', float('nan')):6.2f}% "
          f"test  {rec['info']['params']:>7,} params  compile {rec['info']['cost']['compile_s']:5.1f} s  "
          f"train {rec['info']['cost']['train_s']:5.1f} s  {rec['genome']}")'''),
    new_markdown_cell("The search curve: the incumbent's validation (search) and test (report) accuracy."),
    new_code_cell('''\
from jaxnas.search.plots import plot_curves

curve = results["runs"][0]["curve"]
print(f"best cell {curve[-1]['arch']}: {curve[-1]['search_metric']:.2f}% val, "
      f"{curve[-1]['report_metric']:.2f}% test")
show(plot_curves([results], FIGURES / "agnet_trained_curve.png"))'''),
]


NOTEBOOKS = {
    "01_quickstart_agnet_vs_re.ipynb": QUICKSTART,
    "02_population_training_egnas.ipynb": POPULATION,
    "03_nal_generation_darts.ipynb": NAL,
    "04_hardware_aware_pareto.ipynb": HARDWARE,
    "05_agnet_trained_population.ipynb": TRAINED_AGNET,
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = _notebook(name, cells)
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote notebooks/{name}")


if __name__ == "__main__":
    main()
