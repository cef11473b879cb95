"""The accelerator table: complete, dense (not 2:4-sparse) peaks, a source and a dated price on every row."""
import pytest

from planner.errors import PlannerError
from planner.core.hardware import accelerators, get_accelerator

REQUIRED = ["V100", "A100-40GB", "A100-80GB", "A10G", "L4", "L40S", "H100-SXM", "H100-PCIe", "H200", "B200",
            "MI250X", "MI300X", "TPU-v4", "TPU-v5e", "TPU-v5p", "H800"]


def test_table_has_every_required_accelerator():
    assert set(REQUIRED) <= set(accelerators())


def test_every_row_has_a_datasheet_source_and_a_dated_price_source():
    for acc in accelerators().values():
        assert acc.source.strip() and acc.price_source.strip(), acc.name
        assert acc.price_date[:2] == "20" and acc.usd_per_hour > 0, acc.name


@pytest.mark.parametrize("name, tflops, memory_gb", [
    # Dense BF16 peaks and memory from ../shared/REFERENCE.md ("Accelerators"), vendor datasheets.
    ("V100", 125, 32), ("A100-40GB", 312, 40), ("A100-80GB", 312, 80), ("L4", 121, 24), ("L40S", 362, 48),
    ("H100-SXM", 989, 80), ("H100-PCIe", 756, 80), ("H200", 989, 141), ("B200", 2250, 180),
    ("MI300X", 1307, 192), ("TPU-v4", 275, 32), ("TPU-v5e", 197, 16), ("TPU-v5p", 459, 95),
])
def test_dense_peaks_and_memory_match_the_datasheets(name, tflops, memory_gb):
    acc = get_accelerator(name)
    assert acc.bf16_tflops == tflops and acc.memory_gb == memory_gb
    assert acc.peak_flops == tflops * 1e12


def test_fp8_is_twice_bf16_where_it_exists_and_absent_before_hopper():
    for acc in accelerators().values():
        if acc.fp8_tflops is not None:
            assert acc.fp8_tflops == pytest.approx(2 * acc.bf16_tflops, rel=0.02), acc.name
    assert get_accelerator("A100-80GB").fp8_tflops is None and get_accelerator("V100").fp8_tflops is None


def test_h800_has_the_h100_sxm_peak():
    assert get_accelerator("H800").bf16_tflops == get_accelerator("H100-SXM").bf16_tflops


@pytest.mark.parametrize("spelling, name", [("H100", "H100-SXM"), ("h100 sxm", "H100-SXM"), ("A100", "A100-80GB"),
                                            ("tpu v5p", "TPU-v5p"), ("MI300", "MI300X"), ("h100_pcie", "H100-PCIe")])
def test_aliases_and_loose_spellings_resolve(spelling, name):
    assert get_accelerator(spelling).name == name


def test_unknown_accelerator_lists_the_choices():
    with pytest.raises(PlannerError, match="unknown accelerator 'Z80'.*H100-SXM"):
        get_accelerator("Z80")


def test_v100_peak_is_labelled_fp16_because_it_has_no_bf16():
    v100 = get_accelerator("V100")
    assert v100.peak_dtype == "fp16" and v100.peak_label == "FP16 (no BF16)" and "no BF16" in v100.source
    assert {a.peak_dtype for a in accelerators().values() if a.name != "V100"} == {"bf16"}
