"""Files in and out: schemes as YAML or as the Excel workbook an assessment office keeps.

:mod:`pdca.io.scheme_files` reads a scheme file into a validated
:class:`~pdca.domain.scheme.SchemeSpec` (reporting every problem at once, each with the line,
or the sheet, row and column, where it was found) and writes a spec back out. Reading never
writes anything; storing a scheme is the persistence layer's job.
"""
