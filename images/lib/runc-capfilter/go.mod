module ml-serving-charts/runc-capfilter

go 1.22
