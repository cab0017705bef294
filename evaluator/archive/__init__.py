"""Safe reading of participants' prediction archives (zip, tar.gz, tar).

Archives are hostile input: members are streamed (never ``extractall``), accepted files
are written to paths built from validated case ids inside a caller-given work directory,
and every limit (:class:`ArchiveLimits`) is enforced on the bytes actually read. The
participants' contract is docs/archive-format.md.
"""

from .formats import ArchiveFormat, detect_format
from .limits import ArchiveLimits
from .members import ArchiveError
from .predictions_csv import ALLOWED_COLUMNS, SCORE_COLUMNS, CasePrediction, parse_predictions_csv
from .reader import ExtractedArchive, read_archive
from .zip_members import read_zip_directory

__all__ = [
    "ALLOWED_COLUMNS",
    "ArchiveError",
    "ArchiveFormat",
    "ArchiveLimits",
    "CasePrediction",
    "ExtractedArchive",
    "SCORE_COLUMNS",
    "detect_format",
    "parse_predictions_csv",
    "read_archive",
    "read_zip_directory",
]
