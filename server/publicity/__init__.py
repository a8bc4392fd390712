"""普法宣传 and 先进典型: the articles residents read in the mini-program (server/publicity/articles.py). The
partner systems' door (Open311) is server/cases/open311.py."""
