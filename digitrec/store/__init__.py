"""Storage: labelled samples and model versions on a local directory or S3, behind one API.

``open_blob_store(url)`` picks the backend; ``SampleStore`` and ``ModelHistory``
work on either and never know which. Backend outages raise ``StoreUnavailable``.
"""

from digitrec.store.blobs import (
    BlobNotFound,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    StoreUnavailable,
    open_blob_store,
)
from digitrec.store.samples import SampleRecord, SampleStore
from digitrec.store.versions import ModelHistory, VersionRecord

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "LocalBlobStore",
    "ModelHistory",
    "S3BlobStore",
    "SampleRecord",
    "SampleStore",
    "StoreUnavailable",
    "VersionRecord",
    "open_blob_store",
]
