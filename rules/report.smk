# The results report: self-contained HTML and Markdown.

rule report:
    input:
        unpack(raw_inputs),
    output:
        html="reports/results.html",
        md="reports/results.md",
    params:
        config=config,
    log:
        "logs/report.log",
    script:
        "../scripts/report.py"
