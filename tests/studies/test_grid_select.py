"""--only names cells by name or slug, and one seed of a cell as CELL_sSEED in either spelling."""
import pytest

from electra_lab.config import ConfigError
from electra_lab.studies.grid import select
from electra_lab.studies.spec import Cell, Unit


def units():
    cells = [Cell("objective=electra,corpus=modern", [], {}), Cell("objective=mlm,corpus=modern", [], {})]
    return [Unit(c, s) for c in cells for s in (0, 1)]


def ids(selected):
    return [(u.cell.name, u.seed) for u in selected]


def test_a_cell_by_name_or_slug_selects_all_its_seeds():
    everything = units()
    by_name = select(everything, ["objective=mlm,corpus=modern"])
    assert ids(by_name) == [("objective=mlm,corpus=modern", 0), ("objective=mlm,corpus=modern", 1)]
    assert ids(select(everything, [everything[2].cell.slug])) == ids(by_name)


def test_one_seed_by_cell_name_or_unit_id():
    everything = units()
    by_name = select(everything, ["objective=electra,corpus=modern_s1"])
    assert ids(by_name) == [("objective=electra,corpus=modern", 1)]
    assert ids(select(everything, [everything[1].id])) == ids(by_name)


def test_an_unknown_name_is_a_config_error_showing_the_seed_spelling():
    with pytest.raises(ConfigError, match=r"unknown cells \['nope_s0'\].*objective=electra,corpus=modern_s0"):
        select(units(), ["nope_s0"])
