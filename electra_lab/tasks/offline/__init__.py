"""The offline suite: real labelled data from PyPI packages, one module per source.

Each module's docstring holds its source and licence note; each exposes TASKS.
"""
from electra_lab.tasks.offline import bbc_news, bigbench, movie_reviews

OFFLINE_TASKS = {task.name: task for module in (movie_reviews, bigbench, bbc_news) for task in module.TASKS}
