"""Artifact content storage: the ``ArtifactStore`` protocol (``base``), a local folder
(``local``) and S3 (``s3``), one safe-path check (``paths``), and picking one (``registry``).

Nothing here is imported by ``import picidae``; boto3 only when an ``s3://`` location is used.
"""
