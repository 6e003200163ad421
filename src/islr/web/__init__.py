"""The live camera in a browser page: ``islr live --web`` and notebook 07's last section.

The page (package data in ``islr/web/static``) takes the camera with ``getUserMedia`` and runs MediaPipe Holistic
itself (the npm package ``@mediapipe/holistic``, fetched once into the cache and served locally:
:mod:`islr.web.assets`); it posts each frame's landmarks to a small Python server (:mod:`islr.web.server`), where
they become asl-signs frames and go through the same recogniser as ``islr live --camera``
(:mod:`islr.web.session`). Preprocessing and the rules of an answer stay in Python, defined once; the page only
draws the landmarks and shows the answers. A take (Start/Stop) is scored whole, exactly as ``islr predict`` scores
the parquet it is saved as. :func:`islr.web.notebook.show_in_notebook` puts the page into a notebook's output.
"""
