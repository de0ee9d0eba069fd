"""Every committed golden of chatapp's memory loads through today's code as its snapshot says."""


def test_golden_loads_unchanged(memfix_golden, memfix_snapshot):
    assert memfix_golden.view() == memfix_snapshot
