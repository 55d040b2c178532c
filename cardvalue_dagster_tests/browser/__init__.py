"""Tests that drive the Dagster UI in a real headless Chromium."""
