"""The serving core shared by the prediction server and the local ``Warden.predict``:
validate records against a version's signature, load a model once, predict and explain.

It needs only entities, engines, numpy and pandas, so the facade and the server both import
it downwards (it used to live in ``server/``, which made the facade import upwards).
"""
