"""The accelerator table (data/gpus.csv): dense peak throughput, memory, bandwidth, on-demand price.

Peaks are *dense* BF16 tensor TFLOP/s: vendor pages often lead with 2:4-sparse numbers, which are twice
as large and which no training run reaches. MFU is always measured against the dense BF16 peak.
Every row carries the datasheet it came from, and every price its date and where it was listed.
"""
from __future__ import annotations

import csv
import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from planner.errors import PlannerError
from planner.core.settings import DATA_TABLES

GPUS_CSV = DATA_TABLES / "gpus.csv"
GIB = 2.0**30  # bytes in a GiB, the unit of accelerator memory capacities

# Short names people type, resolved to a table row. A bare "A100" means the 80 GB part, the one
# most published training runs used (LLaMA, Llama 2, OPT, BLOOM).
ALIASES = {
    "H100": "H100-SXM",
    "A100": "A100-80GB",
    "MI300": "MI300X",
    "MI250": "MI250X",
    "V5E": "TPU-v5e",
    "V5P": "TPU-v5p",
    "V4": "TPU-v4",
}


class Accelerator(BaseModel):
    name: str
    vendor: str
    bf16_tflops: float = Field(gt=0, description="dense 16-bit tensor peak, TFLOP/s: BF16, or FP16 where the "
                                                 "part has no BF16 (V100; see peak_dtype)")
    peak_dtype: Literal["bf16", "fp16"] = Field("bf16", description="the format of bf16_tflops: fp16 on parts "
                                                                    "without BF16 tensor cores (V100)")
    fp8_tflops: float | None = Field(default=None, description="dense FP8 peak, TFLOP/s; None if unsupported")
    memory_gb: float = Field(gt=0)
    bandwidth_tbs: float = Field(gt=0, description="HBM (device memory) bandwidth, TB/s")
    matmul_efficiency: float = Field(0.8, gt=0, le=1, description="share of the dense peak a large bf16 matmul "
                                                                  "reaches (measured MAMF / peak; see matmul_source)")
    intra_node_gbs: float = Field(gt=0, description="GPU-to-GPU bandwidth inside a node (NVLink, Infinity Fabric, "
                                                    "ICI, else PCIe), GB/s each way, per GPU")
    inter_node_gbs: float = Field(gt=0, description="network bandwidth between nodes, GB/s each way, per GPU")
    node_size: int = Field(gt=0, description="GPUs that share the fast intra-node fabric (8 for DGX/HGX; a TPU "
                                             "pod for TPUs, whose ICI spans the pod)")
    usd_per_hour: float = Field(gt=0, description="on-demand price per GPU (chip) hour")
    price_date: str
    price_source: str
    source: str
    matmul_source: str = ""
    interconnect_source: str = ""

    @property
    def memory_bytes(self) -> float:
        """Capacity in bytes. Vendors' "80 GB" on HBM parts is 80 GiB: nvidia-smi reports 81,920 MiB for the
        A100 80GB and 81,559 MiB usable on the H100 80GB, and rocm-smi 205,822,885,888 bytes (192 GiB) on the
        MI300X. So an "80 GB" card holds 85.9e9 bytes, not 80e9."""
        return self.memory_gb * GIB

    @property
    def peak_flops(self) -> float:
        """Dense BF16 (V100: FP16) peak in FLOP/s, the denominator of MFU."""
        return self.bf16_tflops * 1e12

    @property
    def peak_label(self) -> str:
        """What the 16-bit peak is, for tables: 'BF16', or 'FP16 (no BF16)'."""
        return "BF16" if self.peak_dtype == "bf16" else "FP16 (no BF16)"


def _normalise(name: str) -> str:
    """'h100 sxm', 'H100_SXM' and 'H100-SXM' are the same accelerator."""
    return re.sub(r"[\s_\-]", "", name).upper()


def _read_row(row: dict) -> Accelerator:
    return Accelerator(**{k: (v if v != "" else None) for k, v in row.items()})


@lru_cache(maxsize=1)
def accelerators() -> dict[str, Accelerator]:
    """All accelerators in data/gpus.csv, by name (read once per process)."""
    with GPUS_CSV.open(newline="") as f:
        return {acc.name: acc for acc in map(_read_row, csv.DictReader(f))}


@lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    table = {_normalise(name): name for name in accelerators()}
    table.update({_normalise(alias): target for alias, target in ALIASES.items()})
    return table


def names_and_aliases() -> list[str]:
    """Every spelling `get_accelerator` accepts (table names first), for parsers and help text."""
    return [*accelerators(), *ALIASES]


def get_accelerator(name: str | Accelerator) -> Accelerator:
    """The accelerator called `name` (case, spaces and dashes ignored; 'H100' means H100-SXM)."""
    if isinstance(name, Accelerator):
        return name
    key = _lookup().get(_normalise(str(name)))
    if key is None:
        raise PlannerError(f"unknown accelerator '{name}'; choose one of: {', '.join(accelerators())}")
    return accelerators()[key]


def with_overrides(name: str | Accelerator, overrides: dict) -> Accelerator:
    """The accelerator with some fields edited (a faster network, a measured matmul efficiency), validated."""
    acc = get_accelerator(name)
    unknown = set(overrides) - set(Accelerator.model_fields)
    if unknown:
        raise PlannerError(f"unknown accelerator field(s): {', '.join(sorted(unknown))}")
    try:
        return Accelerator.model_validate({**acc.model_dump(), **overrides})
    except ValidationError as err:
        first = err.errors()[0]
        raise PlannerError(f"accelerator {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
