"""The simulated data the suite shares."""

from datetime import date

SIM_END = date(2026, 6, 30)
