"""Shared wireless physics for every cfmarl environment (pure numpy, SI units).

Organised by physical domain: :mod:`units`, :mod:`geometry`, :mod:`mobility`,
:mod:`pathloss`, :mod:`shadowing`, :mod:`fading`, :mod:`precoding`,
:mod:`energy`. Every random draw takes an explicit ``numpy.random.Generator``.
"""
