import pytest

from positronic_core.serve import vendor_process


@pytest.fixture
def no_vendor_left():
    """Fails the test if it leaves a vendor server running (and stops them all, so the next test starts clean)."""
    yield
    leftover = vendor_process.running()
    vendor_process.stop_all()
    assert not leftover, "a test left vendor servers running"
