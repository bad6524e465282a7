package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Route is one API Gateway route of the API, whether the IAM authorizer
// guards it and which function serves it.
type Route struct {
	Path    string
	Methods []awsapigatewayv2.HttpMethod
	IAM     bool
	// Console routes the request to the console function; the others go
	// to the api function.
	Console bool
}

// Routes are the API's routes: every /v1 and MLflow route behind the IAM
// authorizer except the health check (and the OpenAPI document, which the
// handler serves unauthenticated too), served by the api function; the
// console's routes (its pages, sign-in and static files, the paths
// shared/console serves at the root) open, because the console checks its
// own signed session, and served by the console function.
var Routes = []Route{
	{Path: "/v1/health", Methods: methods(get)},
	{Path: "/v1/openapi.json", Methods: methods(get)},
	{Path: "/v1/{proxy+}", IAM: true},
	{Path: "/api/2.0/mlflow/{proxy+}", IAM: true},
	{Path: "/api/2.0/mlflow-artifacts/{proxy+}", IAM: true},
	// The console.
	{Path: "/", Methods: methods(get), Console: true},
	{Path: "/static/{proxy+}", Methods: methods(get), Console: true},
	{Path: "/login", Methods: methods(get, post), Console: true},
	{Path: "/login/{proxy+}", Methods: methods(get), Console: true}, // /login/oidc, /login/callback
	{Path: "/logout", Methods: methods(post), Console: true},
	{Path: "/models", Methods: methods(get), Console: true},
	{Path: "/models/{proxy+}", Methods: methods(get, post), Console: true},
	{Path: "/approvals", Methods: methods(get), Console: true},
	{Path: "/approvals/{proxy+}", Methods: methods(get, post), Console: true},
}

const (
	get  = awsapigatewayv2.HttpMethod_GET
	post = awsapigatewayv2.HttpMethod_POST
)

func methods(m ...awsapigatewayv2.HttpMethod) []awsapigatewayv2.HttpMethod { return m }

// Keys are the route keys of r ("GET /login", "ANY /v1/{proxy+}").
func (r Route) Keys() []string {
	if len(r.Methods) == 0 {
		return []string{"ANY " + r.Path}
	}
	var keys []string
	for _, m := range r.Methods {
		keys = append(keys, string(m)+" "+r.Path)
	}
	return keys
}

// Api is the HTTP API (payload format 2.0) in front of the api and
// console functions.
type Api struct {
	constructs.Construct
	HttpApi awsapigatewayv2.HttpApi
	Stage   awsapigatewayv2.HttpStage
	// URL is the custom domain's URL when there is one, else the stage's.
	URL *string
}

// accessLogFormat is one JSON line per request (HTTP API $context fields).
const accessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","caller":"$context.identity.userArn",` +
	`"time":"$context.requestTime","method":"$context.httpMethod","route":"$context.routeKey","status":"$context.status",` +
	`"length":"$context.responseLength","latency":"$context.responseLatency","error":"$context.integrationErrorMessage"}`

// newApi defines the HTTP API with Routes, each integrated with the api
// function or, for the console's, the console function.
func newApi(scope constructs.Construct, c Config, api, console awslambda.Function) *Api {
	a := &Api{Construct: constructs.NewConstruct(scope, jsii.String("Gateway"))}
	a.HttpApi = awsapigatewayv2.NewHttpApi(a.Construct, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description:        jsii.String("modelreg API"),
		CreateDefaultStage: jsii.Bool(false),
	})
	lambda := func(id string, fn awslambda.Function) awsapigatewayv2.HttpRouteIntegration {
		return awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(id), fn,
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0()})
	}
	apiIntegration, consoleIntegration := lambda("Lambda", api), lambda("ConsoleLambda", console)
	iam := awsapigatewayv2authorizers.NewHttpIamAuthorizer()
	for _, r := range Routes {
		integration := apiIntegration
		if r.Console {
			integration = consoleIntegration
		}
		o := &awsapigatewayv2.AddRoutesOptions{Path: jsii.String(r.Path), Integration: integration}
		if len(r.Methods) > 0 {
			o.Methods = &r.Methods
		} else {
			o.Methods = &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_ANY}
		}
		if r.IAM {
			o.Authorizer = iam
		}
		a.HttpApi.AddRoutes(o)
	}
	logs := awslogs.NewLogGroup(a.Construct, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_YEAR, RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	a.Stage = awsapigatewayv2.NewHttpStage(a.Construct, jsii.String("Stage"), &awsapigatewayv2.HttpStageProps{
		HttpApi: a.HttpApi, StageName: jsii.String("$default"), AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{RateLimit: jsii.Number(c.ThrottleRate), BurstLimit: jsii.Number(float64(c.ThrottleBurst))},
	})
	a.Stage.Node().DefaultChild().(awsapigatewayv2.CfnStage).SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: logs.LogGroupArn(), Format: jsii.String(accessLogFormat),
	})
	a.URL = a.Stage.Url()
	if c.DomainName != "" {
		dn := awsapigatewayv2.NewDomainName(a.Construct, jsii.String("Domain"), &awsapigatewayv2.DomainNameProps{
			DomainName:  jsii.String(c.DomainName),
			Certificate: awscertificatemanager.Certificate_FromCertificateArn(a.Construct, jsii.String("Certificate"), jsii.String(c.CertificateARN)),
		})
		awsapigatewayv2.NewApiMapping(a.Construct, jsii.String("DomainMapping"), &awsapigatewayv2.ApiMappingProps{
			Api: a.HttpApi, DomainName: dn, Stage: a.Stage,
		})
		a.URL = jsii.String("https://" + c.DomainName + "/")
	}
	return a
}
