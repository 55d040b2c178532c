"""The MLflow pyfunc wrapper of a fitted valuator (imported only by MLflow code paths)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel


class ValuatorPyfunc(PythonModel):
    """Loads the pickled core valuator and answers value, lower, upper and confidence."""

    def load_context(self, context: Any) -> None:
        self.valuator = pickle.loads(Path(context.artifacts["valuator"]).read_bytes())

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        return self.valuator.predict(model_input)
