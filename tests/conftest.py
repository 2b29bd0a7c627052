"""Shared fixtures.

* ``shared_dir`` / ``nelms_dir``: the team's ``../shared`` folder beside the project root;
  tests that use them are skipped cleanly when it is absent (a user's clone has none).
* ``synthetic_case_dir`` / ``synthetic_case``: the embedded synthetic liver-SBRT export on
  a coarse grid, written once per session; ``coarse_case_dir`` a coarser one (6 mm).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (it exists only in the team's checkout and CI)")
    return SHARED


@pytest.fixture(scope="session")
def nelms_dir(shared_dir) -> Path:
    d = shared_dir / "validation" / "nelms2015"
    if not d.is_dir():
        pytest.skip("../shared/validation/nelms2015 is absent")
    return d


@pytest.fixture(scope="session")
def synthetic_case_dir(tmp_path_factory) -> Path:
    from dosecalc.phantom import write_case

    out = tmp_path_factory.mktemp("synthetic_case")
    write_case(out, spacing_mm=4.0)
    return out


@pytest.fixture(scope="session")
def coarse_case_dir(tmp_path_factory) -> Path:
    """The synthetic export at 6 mm dose / 5 mm CT spacing (small and fast: network tests)."""
    from dosecalc.phantom import write_case

    out = tmp_path_factory.mktemp("coarse_case")
    write_case(out, spacing_mm=6.0, ct_spacing_mm=5.0)
    return out


@pytest.fixture(scope="session")
def synthetic_case(synthetic_case_dir):
    import dosecalc

    return dosecalc.load(synthetic_case_dir)
