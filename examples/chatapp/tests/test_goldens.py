"""Every committed golden of chatapp's memory loads through today's code as its snapshot says,
and today's writer still writes what the current version's golden holds."""


def test_golden_loads_unchanged(memfix_golden, memfix_snapshot):
    assert memfix_golden.view() == memfix_snapshot


def test_golden_is_written_unchanged(memfix_write_side):
    memfix_write_side.check()
