"""Journey: customer-journey analytics over raw e-commerce event logs.

>>> import journey
>>> log = journey.load("data/sample_shop.csv")        # doctest: +SKIP
>>> journey.overview(log)                              # doctest: +SKIP
"""

from .engine import Database, quote_ident
from .errors import InvalidParameterError, JourneyError, LoadError, MappingError
from .load import load, remap
from .log import EventLog, Filters, LoadReport
from .dropoff import (average_order_value, bounce_rate, cart_abandonment, compare_groups, correlation,
                      dropoff_paths, opportunities, time_on_page)
from .canvas import journey_canvas, stage_activity
from .report import html_report
from .churn import ChurnClusters, churn_rate_over_time, churn_risk, clusters, customer_features, default_churn_days
from .funnel import default_steps, funnel, funnel_people, funnel_trend, time_to_convert
from .overview import events_per_day, overview, top_events
from .paths import (compare_transitions, customer_timeline, find_users, path_users, paths, step_matrix,
                    top_paths, transitions)
from .retention import lifecycle, order_gaps, purchase_summary, retention_curves, retention_matrix, retention_rate
from .schema import Mapping, detect_mapping
from .value import advocacy, clv, csat, customer_value, nps, nps_distribution, rfm, rfm_segments, survey_scores
from .stages import StageMap, event_stages, stage_funnel, stage_trend

__version__ = "0.1.0"

__all__ = [
    "StageMap",
    "ChurnClusters",
    "churn_rate_over_time",
    "churn_risk",
    "clusters",
    "customer_features",
    "default_churn_days",
    "lifecycle",
    "order_gaps",
    "purchase_summary",
    "retention_curves",
    "retention_matrix",
    "retention_rate",
    "advocacy",
    "survey_scores",
    "clv",
    "csat",
    "customer_value",
    "nps",
    "nps_distribution",
    "rfm",
    "rfm_segments",
    "compare_transitions",
    "customer_timeline",
    "find_users",
    "journey_canvas",
    "html_report",
    "stage_activity",
    "path_users",
    "paths",
    "step_matrix",
    "top_paths",
    "transitions",
    "average_order_value",
    "bounce_rate",
    "cart_abandonment",
    "compare_groups",
    "correlation",
    "default_steps",
    "dropoff_paths",
    "event_stages",
    "funnel",
    "funnel_people",
    "funnel_trend",
    "opportunities",
    "stage_funnel",
    "stage_trend",
    "time_on_page",
    "time_to_convert",
    "Database",
    "EventLog",
    "Filters",
    "InvalidParameterError",
    "JourneyError",
    "LoadError",
    "LoadReport",
    "Mapping",
    "MappingError",
    "detect_mapping",
    "events_per_day",
    "load",
    "overview",
    "quote_ident",
    "remap",
    "top_events",
]
