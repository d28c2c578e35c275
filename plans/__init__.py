"""Contingency plans as data: YAML files in this folder, validated into frozen dataclasses."""
