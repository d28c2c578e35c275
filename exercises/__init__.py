"""Tabletop exercises: scripted scenarios run through the production workflow at accelerated time."""
