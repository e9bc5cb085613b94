"""Data: one module per source (course HDF5 files and streams, CSV tables, generated sets,
picture folders), each giving X (n_x, m) and Y (n_y, m) with the preprocessing it applied.

- :mod:`dlcli.data.course`: the course's HDF5 files, whole or streamed
- :mod:`dlcli.data.tables`: CSV tables and their standardization
- :mod:`dlcli.data.generated`: flower, spiral, housing and synthetic pictures
- :mod:`dlcli.data.load`: a config's data section, loaded and split (:class:`Dataset`)
- :mod:`dlcli.data.write`: course-layout files (and the housing CSV) written
- :mod:`dlcli.data.folders`: folders of pictures into the course layout
- :mod:`dlcli.data.describe`: what ``dlcli data info`` shows
"""
