"""Search spaces: the choices, how to sample, mutate and encode them, and the matching supernet.

Reach a space through the registry::

    import search_spaces
    space = search_spaces.get("tiny")
"""

from search_spaces._base import Arch, SearchSpace, pick
from search_spaces._registry import available, get, register
from search_spaces.choice import ChoiceSpace

__all__ = ["Arch", "SearchSpace", "ChoiceSpace", "available", "get", "register", "pick"]
