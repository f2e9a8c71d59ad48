"""Reports: ranking, gap and flags, then the renderers (console, md, csv, latex, json)."""
