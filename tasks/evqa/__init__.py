"""Encyclopedic-VQA: the published query and KB formats (loader), the task, and the official metric (BEM)."""
