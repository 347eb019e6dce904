"""gemmlowp's fixed-point exp, logistic and tanh on int32, computed in Python (exact integer steps).

From gemmlowp ``fixedpoint/fixedpoint.h`` at 16e8662c: the functions TFLM's int8 LOGISTIC and TANH
call (``reference_integer_ops::Logistic`` / ``Tanh`` at tflite-micro 90b983c2). An int8 input has 256
values, so the lowering evaluates them here once and the kernel is a table lookup.
"""

from __future__ import annotations

__all__ = ["srdhm", "rdbpot", "exp_on_negative_values", "logistic", "tanh"]

_MIN, _MAX = -(2**31), 2**31 - 1


def _wrap(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


def srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul."""
    if a == b == _MIN:
        return _MAX
    p = a * b
    q = p + ((1 << 30) if p >= 0 else 1 - (1 << 30))
    return abs(q) // (1 << 31) * (1 if q >= 0 else -1)


def rdbpot(x: int, e: int) -> int:
    """RoundingDivideByPOT (half away from zero)."""
    mask = (1 << e) - 1
    return (x >> e) + (1 if (x & mask) > (mask >> 1) + (1 if x < 0 else 0) else 0)


def _mul_pot_sat(x: int, e: int) -> int:
    thr = (1 << (31 - e)) - 1
    return _MAX if x > thr else _MIN if x < -thr else _wrap(x << e)


def _exp_quarter(a: int) -> int:
    x = a + (1 << 28)
    x2 = srdhm(x, x)
    x3, x4 = srdhm(x2, x), srdhm(x2, x2)
    poly = rdbpot(srdhm(rdbpot(x4, 2) + x3, 715827883) + x2, 1)
    return 1895147668 + srdhm(1895147668, x + poly)


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 given in Q(integer_bits), result Q0.31."""
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    mod = (a & (quarter - 1)) - quarter
    rest = mod - a
    result = _exp_quarter(_mul_pot_sat(mod, integer_bits))
    factors = {-2: 1672461947, -1: 1302514674, 0: 790015084, 1: 290630308, 2: 39332535, 3: 720401, 4: 242}
    for exponent, factor in factors.items():
        if integer_bits > exponent and 0 <= frac + exponent < 32 and rest & (1 << (frac + exponent)):
            result = srdhm(result, factor)
    return _MAX if a == 0 else result


def _newton_reciprocal_q2(a: int) -> int:
    """x ~ 2 / (1 + a) in Q2.29 for a in [0, 1) in Q0.31 (three Newton-Raphson steps)."""
    s = a + _MAX
    half = (s + (1 if s >= 0 else -1)) // 2 if s >= 0 else -((-s + 1) // 2)
    x = 1515870810 + srdhm(half, -1010580540)
    for _ in range(3):
        x += _mul_pot_sat(srdhm(x, (1 << 29) - srdhm(half, x)), 2)
    return x


def logistic(a: int, integer_bits: int) -> int:
    """1 / (1 + exp(-a)), a in Q(integer_bits), result Q0.31."""
    if a == 0:
        return 1 << 30
    pos = _mul_pot_sat(_newton_reciprocal_q2(exp_on_negative_values(-abs(a), integer_bits)), 1)
    return pos if a > 0 else _MAX - pos


def tanh(a: int, integer_bits: int) -> int:
    """tanh(a), a in Q(integer_bits), result Q0.31."""
    if a == 0:
        return 0
    e = exp_on_negative_values(-abs(a), integer_bits + 1)  # ExactMulByPot<1>: same raw, one more integer bit
    t = _mul_pot_sat(_newton_reciprocal_q2(e) - (1 << 29), 2)
    return -t if a < 0 else t
