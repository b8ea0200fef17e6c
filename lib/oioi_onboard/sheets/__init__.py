"""Station files: reading them, mapping their columns onto the canonical frame, validating it in one
vectorised pass, the issue table and its report, the template and the mapping profiles.

``__all__`` names what the app and the command use: modules they call through (``template.template_csv``)
and names from the others.
"""

from .._surface import public_surface

# Loaded on first use: the command's option parsing needs only ``canonical``, and importing every module
# here would load pandas and pyarrow into every command.
__all__, __getattr__ = public_surface(__name__, modules=["bnetza", "mapping", "profiles", "template"], names={
    "canonical": ["COLUMNS", "NAMES", "ROW"],
    "export": ["export_csv"],
    "report": ["issues_csv", "issues_xlsx"],
    "stations": ["build_stations", "station_points"],
    "fixes": ["EditCells", "Fix", "ReplaceValue", "SwapCoordinates", "apply_edits", "replace_value", "replay",
              "swap_coordinates"],
    "suggest": ["separator_hint"],
})
