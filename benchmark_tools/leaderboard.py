"""The Track 3 leaderboard as data: every entry of the "Notable results
history" of modded-nanogpt's optimization track, to compare local results
with the published ones (``python -m benchmark_tools.results --baseline
published:36`` or ``--published 36,46``).

Source: github KellerJordan/modded-nanogpt, records/track_3_optimization/
README.md (state of 2026-08-01, commit f411b3d): each entry's number (the
order of acceptance), steps to 3.28 (N), mean final validation loss over n
runs, date, and its log under ``results/`` (which holds the full script).
``hardware``: the GPU and the number of processes as the entry's logs print
them (for #16 and #32 as their folder's README states), else "not stated".

    python -m benchmark_tools.leaderboard [--records] [--format text|markdown|csv|json]
"""

import argparse
import csv
import io
import json
import posixpath
import sys
from dataclasses import asdict, dataclass

from benchmark_utils.errors import UserError

README = (
    "https://github.com/KellerJordan/modded-nanogpt/blob/master/"
    "records/track_3_optimization/README.md"
)
RESULTS = "records/track_3_optimization/results/"


@dataclass(frozen=True)
class Entry:
    number: int
    name: str
    train_steps: int  # N: the steps to 3.28 the entry claims
    val_loss: float  # mean final validation loss over its n runs
    n: int
    hardware: str
    date: str
    log: str  # under records/track_3_optimization/results/
    record: bool = False  # a new world record when accepted
    evidence: bool = True  # False: the README marks it insufficient

    @property
    def source(self):
        """The entry's log folder (or its log file, for the first entries
        whose logs lie directly in ``results/``)."""
        folder = posixpath.dirname(self.log)
        return RESULTS + (folder + "/" if folder else self.log)


#: The "Notable results history" of the Track 3 README: number | name | N |
#: mean final validation loss | n | hardware | date | flags ("record": a new
#: world record, "(!)" in the README; "weak": evidence the README marks
#: insufficient) | log under ``results/``.
TABLE = """
1 | Muon + aux Adam, lr .02 wd .01 | 3600 | 3.2777 | 1 | not stated | 2026-04-26 | record weak | 7b8270c5-a9cd-4a73-b7d8-5d86a2d1e428.txt
2 | Adam, lr .0015 betas (.9, .95), 250-step warmup (likely undertuned) | 5625 | 3.2790 | 1 | not stated | 2026-04-26 | weak | a63a68d1-24aa-4a22-af9a-224e43209ea4.txt
3 | Muon + aux Adam, lr .025 wd .0125 | 3500 | 3.2767 | 1 | not stated | 2026-04-26 | record weak | 311d7833-8dfc-43ea-a55c-fd313a11c4a8.txt
4 | AdamH (Adam + hyperball), per-module init | 4875 | 3.2741 | 5 | 8xH100 80GB HBM3 | 2026-04-30 | - | 20260430_adamh/7533dd87-107f-4a4f-8229-acbec0fb00ac.txt
5 | MuonH (Muon + hyperball), per-module init | 3325 | 3.2782 | 10 | 8xH100 80GB HBM3 | 2026-04-30 | record | 20260430_muonh/9319c798-6643-464a-b407-b05468e468f5.txt
6 | Muon + aux Adam, lr .025 wd .025 | 3375 | 3.2788 | 20 | 8xH100 80GB HBM3 | 2026-05-01 | - | 51ece938-03c5-4343-8dcc-3f3336b07008.txt
7 | Muon^2 + aux Adam | 3325 | 3.2752 | 1 | 8xB200 | 2026-04-29 | - | 20260501_muonsq/bb903816-ea27-4f5f-8028-c963d38c6a7f.txt
8 | NorMuonH, end 25 steps early | 3250 | 3.2778 | 10 | 8xH100 80GB HBM3 | 2026-04-30 | - | 20260430_normuonh/f45b5dcf-16bb-4e83-b5c7-4ef4981f0e9f.txt
9 | NorMuon + aux Adam + u/w floor | 3250 | 3.2771 | 8 | 8xH100 80GB HBM3 | 2026-04-29 | record | 20260501_skylight001/f78af80a-2ba3-4cf7-b9f7-e6e56ff2c54d.txt
10 | NorMuon lr .035 wd .025, end 50 steps early | 3250 | 3.2789 | 20 | 8xH200 | 2026-05-03 | - | 20260503_normuon/e0d0185f-ccb8-426d-8265-a4e762ec69f6.txt
11 | #9 + Contra-Muon | 3225 | 3.2785 | 16 | 8xH100 80GB HBM3 | 2026-05-01 | record | 20260501_contra_muon/08cd60f9-99e2-4e28-b1ac-19136dd42a05.txt
12 | Muon + aux Adam, lr .035 wd .025, end 25 steps early | 3325 | 3.2790 | 20 | 8xH100 80GB HBM3 | 2026-05-03 | - | 1bd8db7a-f3a3-4195-856d-cab7e0816443.txt
13 | NorMuonH in MuLoCo outer Nesterov SGD | 3210 | 3.2785 | 10 | 4xL40S | 2026-05-04 | record | 20260504_muloco_normuonh/7fba9434-58d8-4166-b6a7-d62ef8d17e5d.txt
14 | #11 + SOAP-Muon on MLP weights | 3150 | 3.2776 | 4 | 8xH100 80GB HBM3 | 2026-05-04 | record | 20260504_contra_muon_mlp_soapish/0248394b-0d6c-4133-9ff7-e7ff2763cdd9.txt
15 | Newton-Muon | 3275 | 3.2785 | 15 | 2xH100 NVL | 2026-05-05 | - | 20260505_newton_muon/6fb302c7-d271-491b-906f-75cd6ec72075.txt
16 | #14 + SOAP for attention with trust gate | 3125 | 3.2784 | 8 | 4xH100 | 2026-05-05 | record | 20260506_trustlight/fake_log_from_seed0.txt
17 | #11 + Aurora | 3175 | 3.2789 | 20 | 8xH100 80GB HBM3 | 2026-05-06 | - | 20260505_aurora/298f02bc-dbb4-4661-9ad8-f6429d532873.txt
18 | PMuon | 3225 | 3.2776 | 9 | 8xH800 | 2026-05-07 | - | 20260507_pmuon/54fc0541-7a62-4772-a8f8-d3a46ad10dba.txt
19 | KL-SOAP-H | 3125 | 3.2780 | 6 | not stated | 2026-05-08 | - | 20260508_klsoap_h_clean_tuple_sweep/b1095_sh090/klsoap-h-b1095_sh090-K3125-seed-1.full.txt
20 | #16 + PowerCool + Contra/Soft-Muon | 3030 | 3.2790 | 30 | 8xH100 80GB HBM3 | 2026-05-09 | record | 20260509_contra_soft_muon/03c36e81-e2e5-4916-bf16-0141999b1dbb.txt
21 | Shampoo, power -1/4, precond every 5 | 4100 | 3.2776 | 4 | 8xH100 80GB HBM3 | 2026-05-13 | - | 20260513_shampoo_1_4_power/503575c5-6dde-425a-b461-2df4d99db974.txt
22 | Spectral descent (Muon without momentum) | 8225 | 3.2774 | 4 | 1xH200 | 2026-05-17 | - | 20260517_ortho/d5098d67-7c1b-47b4-8833-80960d633d33.txt
23 | Muown | 3075 | 3.2790 | 30 | 4xGH200 120GB | 2026-05-10 | - | 20260508_muown/a26c8aa2-993d-443f-b931-845724d07015.txt
24 | #11 + split LR cooldown | 3175 | 3.2782 | 10 | 4xA100-SXM4-80GB | 2026-05-09 | - | 20260509_contra_muon_split_cooldown/c1af0bd1-6999-44d1-a618-3d1234ea32f0.txt
25 | #19 + PowerCool with LR floors | 3040 | 3.2781 | 5 | 8xL40S | 2026-05-11 | - | 20260511_klsoap_h_lr_power_decay/01906576-8b3d-4bd2-a73f-23997f602ec1.txt
26 | SinkSOAP | 3090 | 3.2785 | 10 | 8xH200 | 2026-05-14 | - | 20260514_sinksoap/d0155dd0-f77d-48a9-8eb4-453f894b9476.txt
27 | SOAP-H (SOAP + hyperball) | 3125 | 3.2782 | 6 | 1xH100 NVL | 2026-05-18 | - | 20260518_soaph/SOAPH_run1.txt
28 | DynMuon | 3175 | 3.2790 | 25 | 4xH200 | 2026-05-19 | - | 20260519_dynmuon/50172610-d038-4f90-9a12-b9a0853f035d.txt
29 | #20 + radial brake | 2990 | 3.2787 | 11 | 4xH100 80GB HBM3 | 2026-05-11 | record | 20260511_dampen_radial_gradient_component/00882c75-914d-4340-8e0b-dcffcb18b73d.txt
30 | #29 + Aurora on mlp.proj, momentum warmup/cooldown | 2930 | 3.2784 | 16 | 8xH200 | 2026-05-14 | record | 20260514_aurora_proj_pruned_extended_contra/d198124d-5e7f-4743-a683-0eb936a40dbe.txt
31 | #23 + NorMuon + Contra-Muon | 2995 | 3.2789 | 20 | 4xGH200 120GB | 2026-05-15 | - | 20260515_contranormuown/0f117ad6-2342-40f0-9e00-20cec55f6021.txt
32 | #20 + SODA anchor correction | 3000 | 3.2778 | 9 | 4xH200 | 2026-05-18 | - | 20260518_soda_fade_3000_n9/README.md
33 | PSGD-Kron + hyperball | 3375 | 3.2779 | 5 | 8xH100 80GB HBM3 | 2026-05-28 | - | 20260527_psgd/README.md
34 | #30 + late RRE extrapolation | 2925 | 3.2781 | 8 | 1xH100 80GB HBM3, 1xH100 NVL | 2026-05-20 | record | 20260520_rre_extrapolation_pr300_2925/README.md
35 | One-sided Shampoo, pseudoinverse root | 3375 | 3.2767 | 2 | 8xH200 | 2026-06-10 | - | sh-origpinv-s3375-lr1em2-wd010-b9em1-ge15-pf1-near1-record-130563a2-b40b-43c1-8fb4-b7a3bbfa5969.txt
36 | Muon tuned baseline | 3250 | 3.2787 | 10 | 8xH100 80GB HBM3 | 2026-06-11 | - | 20260610_tuned_baseline_3250/263ea3c4-2b13-4adf-8a71-0410386b20e1.txt
37 | MuonH with tuned aux Adam | 3250 | 3.2786 | 10 | 8xH100 80GB HBM3 | 2026-06-11 | - | 20260611_muonh_tuned_aux_3250/f6649181-6de2-4d67-b243-2b18adb9d594.txt
38 | #30 + late-training refinements | 2900 | 3.2786 | 9 | 1xGH200 480GB | 2026-05-20 | record | 20260520_tail_refinterp_2900/refinterp_2900_seed0.txt
39 | #12 in EMA-Nesterov | 3125 | 3.2786 | 20 | 8xA100-SXM4-80GB | 2026-05-22 | - | 20260522_ema_nesterov_muon/4d9e83d4-4e3f-43d3-8aae-e3a9031586be.txt
40 | #30 in EMA-Nesterov | 2890 | 3.2788 | 16 | 8xA100-SXM4-80GB | 2026-05-22 | record | 20260522_ema_nesterov_aurora_proj/345b51b2-38ee-4a78-af2c-bb96cb68470d.txt
41 | #40 + Circuit-Muon | 2875 | 3.2790 | 20 | 8xH100 80GB HBM3 | 2026-05-23 | record | 20260523_circuit_muon/README.md
42 | #40 + fixed reference interpolation | 2860 | 3.2789 | 16 | 8xL40S | 2026-05-25 | record | 20260525_aurora_ema_ref/README.md
43 | #41 + late trajectory transforms | 2850 | 3.2786 | 13 | 8xH100 80GB HBM3 | 2026-05-29 | record | 20260529_tail_phase_readout_2850/tail_phase_readout_2850_seed0.txt
44 | #41 + SOAP-Muon on all hidden matrices | 2750 | 3.2789 | 20 | 8xH100 80GB HBM3 | 2026-06-10 | record | 20260609_soap_f1_auxb2_clean/H100_ff29b392-e7b7-453e-b9d5-a7dfe0605dd0.txt
45 | #44 + final blend toward EMA | 2720 | 3.2786 | 10 | 1xGH200 480GB | 2026-06-12 | record | 20260611_tailema_2720_submission/8878c81f-5f73-461f-a41e-c0887e15c1ca.txt
46 | SOAP-Muon stack + Tail-EMA readout + RowFloor + cautious WD (#45 + RowFloor + CWD) | 2690 | 3.2783 | 8 | 2xA40 | 2026-06-19 | record | 20260619_cwd_rowfloor_tailema/A40_seed0_5c87fa44-7ca7-4d54-971d-d952f9b15792.txt
"""  # noqa: E501


def _parse(table):
    for line in table.strip().splitlines():
        number, name, steps, loss, n, hardware, day, flags, log = (
            cell.strip() for cell in line.split("|")
        )
        yield Entry(
            int(number),
            name,
            int(steps),
            float(loss),
            int(n),
            hardware,
            day,
            log,
            record="record" in flags.split(),
            evidence="weak" not in flags.split(),
        )


ENTRIES = tuple(_parse(TABLE))

#: The published entries of the Track 3 README, by number.
BY_NUMBER = {entry.number: entry for entry in ENTRIES}


def entry(number):
    """The entry ``number`` (an int or its text, with or without "#")."""
    try:
        return BY_NUMBER[int(str(number).strip().lstrip("#"))]
    except (KeyError, ValueError):
        raise UserError(
            f"published entry {number!r}: Track 3 lists entries 1 to "
            f"{max(BY_NUMBER)} (python -m benchmark_tools.leaderboard lists them)"
        ) from None


def record_chain():
    """The world records in the order they were accepted: each needs fewer
    steps than the one before."""
    return [e for e in ENTRIES if e.record]


def select(spec):
    """Entries named by ``spec``: numbers separated by commas, ``records``
    (the world-record chain) or ``all``."""
    spec = str(spec).strip().lower()
    if spec == "all":
        return list(ENTRIES)
    if spec == "records":
        return record_chain()
    return [entry(part) for part in spec.split(",") if part.strip()]


COLUMNS = ("number", "name", "N", "val loss", "n", "hardware", "date", "source")


def grid(header, body, fmt="text"):
    """Lines of a table of strings, as text, rst or markdown (the results
    tables use it too)."""
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(cells) + " |" for cells in body]
    widths = [max(len(h), *(len(c[i]) for c in body)) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    if fmt == "rst":
        rule = "  ".join("=" * w for w in widths)
        return [rule, line(header), rule, *map(line, body), rule]
    return [line(header), line(["-" * w for w in widths]), *map(line, body)]


def _cells(e):
    return [
        f"#{e.number}" + (" (!)" if e.record else ""),
        e.name,
        str(e.train_steps),
        f"{e.val_loss:.4f}" + ("" if e.evidence else " (weak)"),
        str(e.n),
        e.hardware,
        e.date,
        e.source,
    ]


def render(entries, fmt="text"):
    """The entries as a table: (!) marks a world record, (weak) a result
    whose evidence the README marks insufficient."""
    if fmt == "json":
        return json.dumps([asdict(e) | {"source": e.source} for e in entries], indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        fields = [*asdict(entries[0]), "source"] if entries else ["number"]
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for e in entries:
            writer.writerow(asdict(e) | {"source": e.source})
        return buffer.getvalue().rstrip("\n")
    return "\n".join(grid(COLUMNS, [_cells(e) for e in entries], fmt))


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.leaderboard",
        description=f"The Track 3 leaderboard ({README}): (!) a world record, "
        "(weak) evidence the README marks insufficient; source: the entry's "
        f"log folder in the Track 3 repository.",
    )
    parser.add_argument(
        "--records", action="store_true", help="the world-record chain only"
    )
    parser.add_argument(
        "--format", choices=("text", "markdown", "csv", "json"), default="text"
    )
    args = parser.parse_args(argv)
    print(render(record_chain() if args.records else list(ENTRIES), args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
