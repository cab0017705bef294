"""The paper's methods (Goncharov et al., Sec. 2 and 4): networks, classical pipelines and their inference.

One module per method; :mod:`reference_models.registry` maps the method names to builders and predictors.
Importing this package imports nothing heavy; import the modules you need.
"""
