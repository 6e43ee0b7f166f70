"""Customer: one customer's journey on a time axis."""

from journey.ui import shell, state
from journey.ui.timeline import customer_timeline

log = shell.page("Customer timeline")
customer_timeline(log, state.stage_map(), key="customer")
