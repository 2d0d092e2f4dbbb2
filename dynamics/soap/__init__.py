"""The Organization Service (SOAP, CRM 2013 and 2015) client, built on zeep.

Split by job: `service` (zeep, the shipped WSDL subset, the transport, faults), `values`
(attribute values and rows in the Web API's shape), `fetch` (the engine's OData subset as
FetchXML), `messages` (requests and ExecuteMultiple) and `client` (the CrmApi).
"""
