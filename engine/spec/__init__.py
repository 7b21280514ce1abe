"""The spec language: YAML files -> validated runs (resolve.py), its models (models.py, built from
the registry), its building blocks (base.py, importable by kind declarations) and claims."""
