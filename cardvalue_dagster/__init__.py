"""CardValue: fair values for collectibles, built as a Dagster asset graph."""

import warnings

from dagster import BetaWarning, PreviewWarning

# Single-run backfill policies (beta) and partitioned asset checks (preview) are used on purpose;
# pyproject pins dagster below 1.14 until the snapshot test passes on the next minor version.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
