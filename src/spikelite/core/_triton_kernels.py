"""The Triton kernels of :mod:`spikelite.core.triton_lif` (imports ``triton``).

Loaded by :func:`spikelite.core.triton_lif._kernels` only, once per interpreter mode
(``triton.jit`` reads ``TRITON_INTERPRET`` when it decorates). Flags are ``tl.constexpr``,
so every configuration compiles to straight-line code. The formulas and the operation
order are documented in :mod:`spikelite.core.triton_lif`.
"""


import triton
import triton.language as tl


@triton.jit
def _surrogate_grad(u, SA, SB, SUR: tl.constexpr):
    if SUR == 0:  # atan: (α/2) / (1 + (π/2·α·u)²)
        z = SA * u
        g = SB / (1.0 + z * z)
    elif SUR == 1:  # triangle: max(a − |u|, 0) / a
        g = tl.maximum(SA - tl.abs(u), 0.0) / SB
    elif SUR == 2:  # fast sigmoid: 1 / (k|u| + 1)²
        q = SA * tl.abs(u) + 1.0
        g = 1.0 / (q * q)
    elif SUR == 3:  # sigmoid: k·σ(ku)·(1 − σ(ku))
        sg = 1.0 / (1.0 + tl.exp(-(SA * u)))
        g = SB * sg * (1.0 - sg)
    else:  # rectangular: 1[|u| < w/2] / w
        g = (tl.abs(u) < SA).to(tl.float32) / SB
    return g

@triton.jit
def _param(ptr, offs, mask, value, VEC: tl.constexpr):
    if VEC:
        out = tl.load(ptr + offs, mask=mask, other=1.0)
    else:
        out = value
    return out

@triton.jit
def _fire(h, thr, STRICT: tl.constexpr):
    if STRICT:
        s = (h > thr).to(tl.float32)
    else:
        s = (h >= thr).to(tl.float32)
    return s

@triton.jit
def lif_fwd(
    x_ptr, v0_ptr, s_ptr, h_ptr, vall_ptr, vT_ptr,
    leak_ptr, thr_ptr, vr_ptr, vl_ptr, leak, thr, vr, vl,
    N, T,
    FORM: tl.constexpr, RESET: tl.constexpr, TIMING: tl.constexpr,
    STRICT: tl.constexpr, DECAY_INPUT: tl.constexpr,
    LEAK_VEC: tl.constexpr, THR_VEC: tl.constexpr, VR_VEC: tl.constexpr,
    VL_VEC: tl.constexpr, VR_ZERO: tl.constexpr, VL_ZERO: tl.constexpr,
    STORE_H: tl.constexpr, STORE_V: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < N
    lk = _param(leak_ptr, offs, m, leak, LEAK_VEC)
    th = _param(thr_ptr, offs, m, thr, THR_VEC)
    v_r = _param(vr_ptr, offs, m, vr, VR_VEC)
    v_l = _param(vl_ptr, offs, m, vl, VL_VEC)
    v = tl.load(v0_ptr + offs, mask=m, other=0.0)
    # snnTorch's flag r_t = H(v_{t−1} − θ) (delayed/mixed timings with a reset)
    flag = _fire(v, th, STRICT)
    xp = x_ptr + offs
    sp = s_ptr + offs
    hp = h_ptr + offs
    vp = vall_ptr + offs
    for _t in range(T):
        xt = tl.load(xp, mask=m, other=0.0)
        if FORM == 0:  # snnTorch: β·v + x ; β·((1 − r)·v) + x ; (β·v + x) − r·θ
            if TIMING != 0 and RESET == 0:
                h = (v - v * flag) * lk + xt
            else:
                h = v * lk + xt
                if TIMING != 0 and RESET == 1:
                    h = h - flag * th
        elif FORM == 3:  # Norse: v + k·((x + v_leak) − v)
            if VL_ZERO:
                h = xt - v
            else:
                h = (xt + v_l) - v
            h = h * lk + v
        else:  # SpikingJelly: v + (x − (v − v_leak))/τ ; v − (v − v_leak)/τ + x
            if VL_ZERO:
                if DECAY_INPUT:
                    q = xt - v
                else:
                    q = -v
            else:
                q = v - v_l
                if DECAY_INPUT:
                    q = xt - q
                else:
                    q = -q
            if FORM == 1:
                q = tl.math.div_rn(q, lk)
            else:
                q = q * lk
            h = q + v
            if not DECAY_INPUT:
                h = h + xt
        s = _fire(h, th, STRICT)
        if TIMING == 1:  # delayed: the state is h, the flag the spike
            v = h
            flag = s
        elif TIMING == 2:  # mixed: v = h − (s − r)·θ  or  h − (s − r)·h
            if RESET == 2:
                v = h
            else:
                d = s - flag
                if RESET == 0:
                    v = h - d * h
                else:
                    v = h - d * th
                flag = _fire(v, th, STRICT)
        elif RESET == 0:  # v = h − h·s (+ v_reset·s)
            v = h - h * s
            if not VR_ZERO:
                v = v + s * v_r
        elif RESET == 1:
            v = h - s * th
        else:
            v = h
        tl.store(sp, s, mask=m)
        if STORE_H:
            tl.store(hp, h, mask=m)
        if STORE_V:
            tl.store(vp, v, mask=m)
        xp += N
        sp += N
        hp += N
        vp += N
    tl.store(vT_ptr + offs, v, mask=m)

@triton.jit
def lif_bwd(
    h_ptr, s_ptr, x_ptr, v0_ptr, vall_ptr, gs_ptr, gho_ptr, gvT_ptr,
    gx_ptr, gv0_ptr, gl_ptr,
    leak_ptr, thr_ptr, vr_ptr, vl_ptr, leak, thr, vr, vl, SA, SB,
    N, T, last,
    FORM: tl.constexpr, RESET: tl.constexpr, TIMING: tl.constexpr,
    STRICT: tl.constexpr, DECAY_INPUT: tl.constexpr, DETACH: tl.constexpr,
    LEAK_VEC: tl.constexpr, THR_VEC: tl.constexpr, VR_VEC: tl.constexpr,
    VL_VEC: tl.constexpr, SUR: tl.constexpr,
    HAS_GS: tl.constexpr, HAS_GHO: tl.constexpr, HAS_GVT: tl.constexpr,
    NEED_LEAK: tl.constexpr, BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < N
    lk = _param(leak_ptr, offs, m, leak, LEAK_VEC)
    th = _param(thr_ptr, offs, m, thr, THR_VEC)
    v_r = _param(vr_ptr, offs, m, vr, VR_VEC)
    v_l = _param(vl_ptr, offs, m, vl, VL_VEC)
    v0 = tl.load(v0_ptr + offs, mask=m, other=0.0)
    # ∂h/∂v_{t−1} (a, except the flag's factor) and ∂h/∂x (b)
    if FORM == 0:
        a0 = lk
        b = 1.0
    elif FORM == 1:
        kk = tl.math.div_rn(1.0, lk)
        a0 = 1.0 - kk
        if DECAY_INPUT:
            b = kk
        else:
            b = 1.0
    else:
        a0 = 1.0 - lk
        if DECAY_INPUT:
            b = lk
        else:
            b = 1.0
    gv = tl.full([BLOCK], 0.0, tl.float32)
    if HAS_GVT:
        gv = tl.load(gvT_ptr + offs, mask=m, other=0.0)
    gl = tl.full([BLOCK], 0.0, tl.float32)
    hp = h_ptr + last + offs
    sp = s_ptr + last + offs
    xp = x_ptr + last + offs
    vp = vall_ptr + last + offs
    gsp = gs_ptr + last + offs
    ghp = gho_ptr + last + offs
    gxp = gx_ptr + last + offs
    for i in range(T):
        has_prev = (offs * 0 + i) < T - 1  # step t = T − 1 − i has a predecessor
        h = tl.load(hp, mask=m, other=0.0)
        s = tl.load(sp, mask=m, other=0.0)
        # the state v_{t−1} (post-reset; the pre-reset h for the delayed timing)
        if not NEED_LEAK and TIMING == 0:
            vq = v0  # not needed
        elif TIMING == 0:
            hq = tl.load(hp - N, mask=m & has_prev, other=0.0)
            sq = tl.load(sp - N, mask=m & has_prev, other=0.0)
            if RESET == 0:
                vq = tl.where(sq != 0.0, v_r, hq)
            elif RESET == 1:
                vq = hq - th * sq
            else:
                vq = hq
        elif TIMING == 1:
            vq = tl.load(hp - N, mask=m & has_prev, other=0.0)
        else:
            vq = tl.load(vp - N, mask=m & has_prev, other=0.0)
        v_prev = tl.where(has_prev, vq, v0)
        r = _fire(v_prev, th, STRICT)
        u = h - th
        sg = _surrogate_grad(u, SA, SB, SUR)
        gh = tl.full([BLOCK], 0.0, tl.float32)
        if HAS_GS:
            gh = tl.load(gsp, mask=m, other=0.0) * sg
        if HAS_GHO:
            gh = gh + tl.load(ghp, mask=m, other=0.0)
        # R_t = ∂v_t/∂h_t
        if TIMING == 1 or RESET == 2:
            gh = gh + gv
        elif RESET == 1:
            if DETACH:
                gh = gh + gv
            else:
                gh = gh + gv * (1.0 - th * sg)
        elif TIMING == 0:  # zero: (1 − s) + (v_reset − h)·σ'
            if DETACH:
                gh = gh + gv * (1.0 - s)
            else:
                gh = gh + gv * ((1.0 - s) + (v_r - h) * sg)
        else:  # mixed zero: v = h − (s − r)·h → 1 − (s − r) − h·σ'
            if DETACH:
                gh = gh + gv * (1.0 - (s - r))
            else:
                gh = gh + gv * ((1.0 - (s - r)) - h * sg)
        tl.store(gxp, gh * b, mask=m)
        if FORM == 0 and TIMING != 0 and RESET == 0:
            a = a0 * (1.0 - r)
        else:
            a = a0
        if NEED_LEAK:
            if FORM == 0:
                if TIMING != 0 and RESET == 0:
                    dl = (1.0 - r) * v_prev
                else:
                    dl = v_prev
            else:
                xt = tl.load(xp, mask=m, other=0.0)
                if FORM == 3:
                    dl = (xt + v_l) - v_prev
                else:
                    if DECAY_INPUT:
                        dl = xt - (v_prev - v_l)
                    else:
                        dl = -(v_prev - v_l)
                    if FORM == 1:
                        dl = -dl / (lk * lk)
            gl = gl + gh * dl
        gv = gh * a
        hp -= N
        sp -= N
        xp -= N
        vp -= N
        gsp -= N
        ghp -= N
        gxp -= N
    tl.store(gv0_ptr + offs, gv, mask=m)
    if NEED_LEAK:
        tl.store(gl_ptr + offs, gl, mask=m)



