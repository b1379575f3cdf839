"""Quantizer math: levels, exact export contract, idempotence, options, bit utilization."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikelite.errors import SpikeliteError
from spikelite.quant.functional import (
    QUANTIZERS,
    bit_utilization,
    bit_utilization_estimate,
    dequantize,
    get_quantizer,
    percentile_absmax,
    quantizer_options,
)

SCHEMES = ("binary", "duq", "lsq", "rescaw", "symmetric", "ternary", "uniform")
FAST = settings(max_examples=40, deadline=None)


def bits_for(name: str) -> st.SearchStrategy[int]:
    return {
        "binary": st.just(1),
        "ternary": st.just(2),
        "uniform": st.integers(1, 16),
        "rescaw": st.integers(1, 16),
    }.get(name, st.integers(2, 16))


@st.composite
def weights(draw, min_dims: int = 1) -> torch.Tensor:
    """Random Gaussian weights of random shape/spread/dtype, sometimes with exact zeros,
    ties and clip boundaries (±1) injected."""
    shape = draw(st.lists(st.integers(1, 5), min_size=min_dims, max_size=4))
    spread = draw(st.sampled_from([1e-3, 0.05, 0.3, 1.0, 4.0]))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    w = torch.randn(shape, generator=g, dtype=dtype) * spread
    if draw(st.booleans()):
        flat = w.view(-1)
        for i, v in enumerate(draw(st.lists(st.sampled_from([0.0, 1.0, -1.0, 0.5]), max_size=4))):
            flat[i % flat.numel()] = v
    return w


@st.composite
def scheme_case(draw, names=SCHEMES):
    """(scheme with random options, bits, weight)."""
    name = draw(st.sampled_from(names))
    opts: dict = {}
    if name == "rescaw":
        opts = {
            "gamma": draw(st.sampled_from(["mean", "max", "percentile"])),
            "per_channel": draw(st.booleans()),
            "detach_gamma": draw(st.booleans()),
            "percentile": draw(st.sampled_from([0.9, 0.99, 1.0])),
        }
    elif name == "symmetric":
        opts = {"per_channel": draw(st.booleans()),
                "calibration": draw(st.sampled_from(["max", "percentile"]))}
    return get_quantizer(name, **opts), draw(bits_for(name)), draw(weights())


def code_range(name: str, bits: int) -> tuple[int, int]:
    half = 2 ** (bits - 1)
    return {
        "uniform": (0, 2**bits - 1), "rescaw": (0, 2**bits - 1),
        "duq": (-(half - 1), half - 1), "symmetric": (-(half - 1), half - 1),
        "lsq": (-half, half - 1), "ternary": (-1, 1), "binary": (-1, 1),
    }[name]


# ---------------------------------------------------------------- export contract
@FAST
@given(scheme_case(), st.booleans())
def test_fake_forward_is_bitwise_the_dequantized_codes(case, with_grad):
    q, bits, w = case
    params = q.init_params(w, bits)
    if with_grad:
        w = w.clone().requires_grad_()
        params = {k: v.clone().requires_grad_(k in q.learnable_params) for k, v in params.items()}
    codes, scale, zp = q.codes(w, params, bits)
    out = q.fake(w, params, bits)
    assert codes.dtype == torch.int32 and codes.shape == w.shape
    assert isinstance(zp, float) and scale.dtype == w.dtype and not scale.requires_grad
    assert out.dtype == w.dtype and out.shape == w.shape
    assert torch.equal(out, scale * (codes.to(scale.dtype) - zp))
    lo, hi = code_range(q.name, bits)
    assert int(codes.min()) >= lo and int(codes.max()) <= hi
    assert out.requires_grad == with_grad


@pytest.mark.parametrize("name", SCHEMES)
def test_levels_count_equals_the_code_range(name):
    q = get_quantizer(name)
    for bits in {"binary": [1], "ternary": [2]}.get(name, [2, 3, 4, 8, 16]):
        lo, hi = code_range(name, bits)
        if name == "binary":
            assert q.levels(bits) == 2  # codes {−1, +1}: 0 is not a code
        else:
            assert q.levels(bits) == hi - lo + 1
    expected = {"uniform": 2**4, "rescaw": 2**4, "lsq": 2**4, "duq": 2**4 - 1,
                "symmetric": 2**4 - 1}
    if name in expected:
        assert q.levels(4) == expected[name]


# -------------------------------------------------------------------- level sets
@settings(max_examples=60, deadline=None)
@given(weights(), st.integers(1, 16))
def test_uniform_values_lie_on_the_grid_without_zero(w, bits):
    q = get_quantizer("uniform")
    s = 2**bits - 1
    out = q.fake(w, None, bits)
    codes, scale, zp = q.codes(w, None, bits)
    assert zp == s / 2 and math.isclose(float(scale), 2 / s, rel_tol=1e-6)
    assert bool((out != 0).all())
    paper = 2 * codes.double() / s - 1  # Ŵ = 2·W_int/s − 1 (Eq. 6)
    assert torch.allclose(out.double(), paper, atol=4 * torch.finfo(w.dtype).eps)
    expected = uniform_reference(w, bits).double()  # same dtype: identical rounding
    assert torch.allclose(out.double(), expected, atol=4 * torch.finfo(w.dtype).eps)


def uniform_reference(w: torch.Tensor, bits: int) -> torch.Tensor:
    s = 2**bits - 1
    return 2 * torch.round(s / 2 * (w.clamp(-1, 1) + 1)).double() / s - 1


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_uniform_hits_exactly_2b_levels_none_zero(bits):
    s = 2**bits - 1
    out = get_quantizer("uniform").fake(torch.linspace(-1.5, 1.5, 4001), None, bits)
    vals = out.unique()
    assert vals.numel() == 2**bits and bool((vals != 0).all())
    grid = torch.tensor([2 * k / s - 1 for k in range(s + 1)])
    assert torch.allclose(vals, grid, atol=1e-6)
    if bits == 2:
        assert torch.allclose(vals, torch.tensor([-1, -1 / 3, 1 / 3, 1]))


@pytest.mark.parametrize("bits", [2, 3, 4, 6, 8])
def test_duq_has_2b_minus_1_levels_including_zero(bits):
    q = get_quantizer("duq")
    w = torch.linspace(-2, 2, 5001)
    params = {"a": torch.tensor(1.5), "c": torch.tensor(0.7)}
    vals = q.fake(w, params, bits).unique()
    assert vals.numel() == 2**bits - 1 and bool((vals == 0).any())
    assert torch.allclose(vals.abs().max(), torch.tensor(0.7))
    if bits == 2:
        assert torch.equal(vals, torch.tensor([-0.7, 0.0, 0.7]))


@FAST
@given(weights())
def test_ternary_and_binary_value_sets(w):
    t = get_quantizer("ternary").fake(w, None, 2)
    codes, alpha, _ = get_quantizer("ternary").codes(w, None, 2)
    a = w.abs()
    big = a > 0.7 * a.mean()
    assert torch.equal(codes, (torch.sign(w) * big).to(torch.int32))
    assert torch.allclose(alpha, a[big].mean()) if bool(big.any()) else float(alpha) == 0
    assert set(t.unique().tolist()) <= {-float(alpha), 0.0, float(alpha)}
    b = get_quantizer("binary").fake(w, None, 1)
    m = a.mean()
    assert set(b.unique().tolist()) <= {float(-m), float(m)}
    assert torch.equal(torch.sign(b), torch.where(w >= 0, 1.0, -1.0).to(w.dtype)) or float(m) == 0


def test_binary_sign_of_zero_is_plus_one():
    codes, scale, zp = get_quantizer("binary").codes(torch.tensor([0.0, -2.0, 2.0]), None, 1)
    assert codes.tolist() == [1, -1, 1] and zp == 0.0
    assert math.isclose(float(scale), 4 / 3, rel_tol=1e-6)


# ------------------------------------------------------------------- idempotence
@FAST
@given(scheme_case(("uniform", "rescaw", "duq", "symmetric", "lsq")))
def test_idempotent_with_fixed_params(case):
    """Q(Q(w)) == Q(w) bitwise once the parameters are fixed (rescaw: γ frozen; duq: a = c
    as after init_params)."""
    q, bits, w = case
    params = q.init_params(w, bits)
    if q.name == "rescaw":
        params = {"gamma": q.compute_gamma(w)}
    once = q.fake(w, params, bits)
    assert torch.equal(q.fake(once, params, bits), once)


@FAST
@given(weights())
def test_ternary_and_binary_are_idempotent_when_recomputed(w):
    for name, bits in (("ternary", 2), ("binary", 1)):
        q = get_quantizer(name)
        once = q.fake(w, None, bits)
        twice = q.fake(once, None, bits)
        assert torch.equal(q.codes(once, None, bits)[0], q.codes(w, None, bits)[0]) or (
            name == "binary" and float(w.abs().max()) == 0
        )
        assert torch.allclose(twice, once)


def test_where_idempotence_fails():
    """Documented: rescaw with γ = mean|W| recomputed, and duq with c ≠ a, are not
    projections."""
    w = torch.tensor([0.05, -0.1, 0.2, -2.0])
    q = get_quantizer("rescaw")
    once = q.fake(w, None, 2)
    assert not torch.allclose(q.fake(once, None, 2), once)
    duq = get_quantizer("duq")
    params = {"a": torch.tensor(1.0), "c": torch.tensor(0.5)}
    once = duq.fake(w, params, 2)  # [0, 0, 0, −0.5]; then round(−0.5/a) = 0 ≠ −1
    assert not torch.equal(duq.fake(once, params, 2), once)


# -------------------------------------------------------------- γ and calibration
@FAST
@given(weights(min_dims=4))
def test_rescaw_gamma_per_layer_and_per_channel(w):
    c = w.shape[0]
    per_layer = get_quantizer("rescaw").compute_gamma(w)
    assert per_layer.shape == () and torch.allclose(per_layer, w.abs().mean())
    q = get_quantizer("rescaw", per_channel=True)
    g = q.compute_gamma(w)
    assert g.shape == (c, 1, 1, 1)
    assert torch.allclose(g, w.abs().mean(dim=(1, 2, 3), keepdim=True))
    _, scale, zp = q.codes(w, None, 4)
    assert scale.shape == (c, 1, 1, 1) and torch.equal(scale, g * (2 / 15)) and zp == 7.5
    gmax = get_quantizer("rescaw", gamma="max", per_channel=True).compute_gamma(w)
    tiny = torch.finfo(w.dtype).tiny  # γ is floored there: an all-zero filter gives no NaN
    assert torch.equal(gmax, w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(tiny))
    gp = get_quantizer("rescaw", gamma="percentile", percentile=0.9).compute_gamma(w)
    ref = torch.maximum(torch.quantile(w, 0.1).abs(), torch.quantile(w, 0.9).abs())
    assert torch.allclose(gp, ref)


def test_percentile_absmax_matches_torch_quantile_per_channel():
    w = torch.randn(6, 4, 3, 3, dtype=torch.float64)
    got = percentile_absmax(w, 0.99, per_channel=True)
    flat = w.reshape(6, -1)
    ref = torch.maximum(torch.quantile(flat, 0.01, dim=1).abs(),
                        torch.quantile(flat, 0.99, dim=1).abs())
    assert torch.allclose(got.reshape(6), ref)
    assert torch.equal(percentile_absmax(w, 1.0), w.abs().max())


def test_init_params_per_scheme():
    w = torch.randn(8, 3, 3, 3, dtype=torch.float64) * 0.2 + 0.01
    mu, sigma = w.mean(), w.std(correction=0)
    duq = get_quantizer("duq").init_params(w, 4)
    init = max(abs(mu - 3 * sigma), abs(mu + 3 * sigma))
    assert set(duq) == {"a", "c"} and duq["a"].shape == () and torch.allclose(duq["a"], init)
    assert torch.equal(duq["a"], duq["c"]) and duq["a"] is not duq["c"]
    lsq = get_quantizer("lsq").init_params(w, 4)
    assert torch.allclose(lsq["step"], 2 * w.abs().mean() / math.sqrt(7))
    sym = get_quantizer("symmetric", per_channel=True).init_params(w, 4)
    assert torch.allclose(sym["scale"], w.abs().amax(dim=(1, 2, 3), keepdim=True) / 7)
    for name in SCHEMES:
        q = get_quantizer(name)
        bits = {"binary": 1, "ternary": 2}.get(name, 4)
        p = q.init_params(w, bits)
        assert set(p) == set(q.required_params) and set(q.learnable_params) <= set(p)
        assert all(not v.requires_grad for v in p.values())
    assert get_quantizer("symmetric").learnable_params == ()


@pytest.mark.parametrize("name", SCHEMES)
def test_all_zero_weight_gives_finite_output(name):
    q = get_quantizer(name, **({"per_channel": True} if name == "rescaw" else {}))
    bits = {"binary": 1, "ternary": 2}.get(name, 3)
    w = torch.zeros(3, 2, requires_grad=True)
    out = q.fake(w, None, bits)
    out.sum().backward()
    assert bool(torch.isfinite(out).all()) and bool(torch.isfinite(w.grad).all())
    if name not in ("uniform", "rescaw"):  # those two have no zero level
        assert bool((out == 0).all())


# -------------------------------------------------------------------- validation
@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("bits", [0, -1, 17, 2.0, "4", True, None])
def test_bad_bits_raise(name, bits):
    q = get_quantizer(name)
    with pytest.raises(SpikeliteError, match="bits"):
        q.check_bits(bits)
    with pytest.raises(SpikeliteError, match="bits"):
        q.codes(torch.ones(3), None, bits)


@pytest.mark.parametrize(("name", "bad", "ok"), [
    ("binary", [2, 8], [1]), ("ternary", [1, 3, 8], [2]), ("duq", [1], [2, 16]),
    ("symmetric", [1], [2, 16]), ("lsq", [1], [2, 16]), ("uniform", [], [1, 16]),
    ("rescaw", [], [1, 16]),
])
def test_scheme_specific_bit_widths(name, bad, ok):
    q = get_quantizer(name)
    for b in bad:
        with pytest.raises(SpikeliteError, match=name):
            q.levels(b)
        with pytest.raises(SpikeliteError, match="bits"):
            q.fake(torch.ones(2), None, b)
    for b in ok:
        q.check_bits(b)


def test_registry_and_factory_errors():
    assert set(QUANTIZERS.names()) == set(SCHEMES)
    with pytest.raises(SpikeliteError, match="Valid quantizer names: binary, duq"):
        get_quantizer("int4")
    with pytest.raises(SpikeliteError, match=r"no option\(s\) gama.*gamma, percentile"):
        get_quantizer("rescaw", gama="max")
    with pytest.raises(SpikeliteError, match=r"Valid options: \(none\)"):
        get_quantizer("uniform", per_channel=True)
    for opts in ({"gamma": "median"}, {"percentile": 1.5}, {"percentile": "x"},
                 {"per_channel": "yes"}, {"detach_gamma": 1}):
        with pytest.raises(SpikeliteError):
            get_quantizer("rescaw", **opts)
    with pytest.raises(SpikeliteError, match="calibration"):
        get_quantizer("symmetric", calibration="mse")
    with pytest.raises(SpikeliteError, match="delta_factor"):
        get_quantizer("ternary", delta_factor=0)
    q = get_quantizer("RESCAW", gamma="max")
    assert get_quantizer(q) is q and q.name == "rescaw" and q.gamma == "max"
    with pytest.raises(SpikeliteError, match="either"):
        get_quantizer(q, gamma="mean")
    assert quantizer_options("rescaw") == {
        "gamma": "mean", "percentile": 0.99, "per_channel": False, "detach_gamma": True}
    assert get_quantizer("rescaw") == get_quantizer("rescaw")  # records compare/hash
    assert hash(get_quantizer("symmetric", per_channel=True)) is not None


def test_params_and_weight_errors():
    duq = get_quantizer("duq")
    with pytest.raises(SpikeliteError, match="missing \\['c'\\]"):
        duq.codes(torch.ones(3), {"a": torch.tensor(1.0)}, 4)
    with pytest.raises(SpikeliteError, match="unknown \\['scale'\\]"):
        duq.fake(torch.ones(3), {"a": torch.tensor(1.0), "c": torch.tensor(1.0),
                                 "scale": torch.tensor(1.0)}, 4)
    with pytest.raises(SpikeliteError, match="NaN"):
        get_quantizer("uniform").codes(torch.tensor([0.0, math.nan]), None, 4)
    with pytest.raises(SpikeliteError, match="floating-point"):
        get_quantizer("uniform").fake(torch.ones(3, dtype=torch.int64), None, 4)


# ---------------------------------------------------------- bit-width utilization
@pytest.mark.parametrize(("a", "percent"), [
    (0.14, 14.33), (0.32, 32.26), (0.70, 70.12), (0.64, 64.14), (0.44, 44.22),
    (0.2, 20.31), (0.3, 30.27),
])
def test_bit_utilization_estimate_reproduces_qpsnn_table(a, percent):
    assert abs(100 * bit_utilization_estimate(a, 8) - percent) <= 0.01


def test_bit_utilization_counts_used_codes():
    for a in (0.14, 0.32, 0.7):
        w = torch.linspace(-a, a, 20001)
        r = bit_utilization(w, 8)
        assert abs(r - bit_utilization_estimate(a, 8)) <= 1.5 / 256
    w = torch.randn(64, 32, 3, 3) * 0.05
    assert bit_utilization(w, 8) < 0.5 < bit_utilization(w, 8, "rescaw")
    assert bit_utilization(torch.linspace(-3, 3, 999), 4) == 1.0
    sym = torch.cat([w, -w])
    assert bit_utilization(sym, 4, get_quantizer("rescaw", gamma="max")) == 1.0
    assert bit_utilization_estimate(2.0, 4) == 1.0
    for a, bits in ((-0.1, 8), (math.nan, 8), (0.1, 0), (0.1, 17)):
        with pytest.raises(SpikeliteError):
            bit_utilization_estimate(a, bits)


def test_codes_feed_the_layerquant_sidecar_and_half_precision_guard():
    from spikelite.quant.baked import LayerQuant

    w = torch.randn(4, 3, 3, 3) * 0.1
    for name in SCHEMES:
        q = get_quantizer(name)
        bits = {"binary": 1, "ternary": 2}.get(name, 4)
        p = q.init_params(w, bits)
        codes, scale, zp = q.codes(w, p, bits)
        lq = LayerQuant(name="conv", weight_shape=tuple(w.shape), scheme=name, bits=bits,
                        codes=codes, scale=scale, zero_point=zp, levels=q.levels(bits))
        assert torch.equal(lq.dequantize(), q.fake(w, p, bits))
    half = w.to(torch.bfloat16)
    q = get_quantizer("uniform")
    assert torch.equal(q.fake(half, None, 7), dequantize(*q.codes(half, None, 7)))
    with pytest.raises(SpikeliteError, match="not exact in torch.bfloat16"):
        q.fake(half, None, 8)
    with pytest.raises(SpikeliteError, match="at most 10 bits"):
        q.codes(w.half(), None, 11)
