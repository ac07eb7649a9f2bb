"""To approved research: the studies a biobank may supply (protocols), what each asked for
(requests), the tubes proposed and reserved for a request, and the study pseudonyms its tubes
travel under."""
